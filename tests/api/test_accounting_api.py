"""GET /v1/analytics/cohorts, /liability and /journal: the reports of the use cases as JSON and CSV, the analytics
scope, and a period that ends before it starts refused with the field named."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from loyalty.analytics import cohorts, journal, liability, router
from loyalty.storage.database import UnitOfWork
from tests.analytics import accounting_history as h
from tests.api.conftest import Server
from tests.usecases import read

PERIOD = {"from": "2026-09-01", "to": "2026-12-02"}


def test_the_reports_as_json_and_csv(server: Server) -> None:
    h.build(server.engine)
    start, end = datetime(2026, 9, 1, tzinfo=h.MOSCOW), datetime(2026, 12, 2, tzinfo=h.MOSCOW)
    as_of = datetime(2026, 11, 1, 23, 59, 59, 999999, tzinfo=h.MOSCOW)  # a bare date: the end of that day
    with server.client(server.analytics) as client:
        got = client.get("/v1/analytics/cohorts", params=PERIOD)
        assert got.status_code == 200, got.text
        assert got.json() == read(server.engine, lambda uow: cohorts.cohorts(uow, start, end))
        got = client.get("/v1/analytics/journal", params=PERIOD)
        assert got.status_code == 200, got.text
        report = read(server.engine, lambda uow: journal.journal(uow, start, end))
        assert got.json() == report
        got = client.get("/v1/analytics/liability", params={"as_of": "2026-11-01"})
        assert got.status_code == 200, got.text
        assert got.json() == read(server.engine, lambda uow: liability.liability(uow, as_of))

        as_csv = client.get("/v1/analytics/journal", params=PERIOD, headers={"Accept": "text/csv"})
        assert as_csv.status_code == 200
        assert as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(as_csv.text)))
        assert tuple(rows[0]) == journal.CSV_COLUMNS
        assert rows[1:] == journal.csv_rows(report)
        assert client.get("/v1/analytics/journal", params={**PERIOD, "format": "csv"}).text == as_csv.text
        lots = client.get("/v1/analytics/liability", params={"as_of": "2026-11-01", "format": "csv"})
        assert lots.status_code == 200
        lot_rows = list(csv.reader(io.StringIO(lots.text)))
        assert tuple(lot_rows[0]) == liability.LOT_COLUMNS
        held = sum(int(row[liability.LOT_COLUMNS.index("held")]) for row in lot_rows[1:])
        assert held == got.json()["points_in_lots"]
        retention = client.get("/v1/analytics/cohorts", params={**PERIOD, "format": "csv"})
        assert retention.text.splitlines()[:2] == ["cohort,registered,month,active,share", "2026-09,2,2026-09,2,1.0000"]
        explicit_json = client.get(
            "/v1/analytics/journal", params={**PERIOD, "format": "json"}, headers={"Accept": "text/csv"}
        )
        assert explicit_json.json() == report


def test_the_lot_register_is_streamed_in_chunks_in_account_and_lot_order(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fetched and sent a few lots at a time (so a register of millions of lots keeps memory flat): every lot is
    there once, in order, whatever the chunk boundaries; no Content-Length, as the size is not known up front."""
    h.build(server.engine)
    as_of = datetime(2026, 11, 1, 23, 59, 59, 999999, tzinfo=h.MOSCOW)
    with UnitOfWork(server.engine, snapshot=True) as uow:
        expected = [
            [str(v) if v is not None else "" for v in row]
            for row in liability.lot_rows(liability.lot_register(uow, as_of))
        ]
    assert len(expected) >= 3  # more than one chunk of each size below
    monkeypatch.setattr(liability, "STREAMED", 2)
    monkeypatch.setattr(router, "CSV_CHUNK", 2)
    with server.client(server.analytics) as client:
        lots = client.get("/v1/analytics/liability", params={"as_of": "2026-11-01", "format": "csv"})
    assert lots.status_code == 200, lots.text
    assert "content-length" not in lots.headers
    assert lots.headers["content-disposition"] == 'attachment; filename="lots.csv"'
    rows = list(csv.reader(io.StringIO(lots.text)))
    assert tuple(rows[0]) == liability.LOT_COLUMNS
    assert rows[1:] == expected


def test_a_lot_register_without_a_program_is_refused_before_streaming(server: Server) -> None:
    with server.client(server.analytics) as client:
        lots = client.get("/v1/analytics/liability", params={"as_of": "2026-11-01", "format": "csv"})
    assert lots.status_code != 200
    assert lots.headers["content-type"].startswith("application/problem+json")


def test_a_bad_period_is_422_naming_the_field_and_other_scopes_are_refused(server: Server) -> None:
    h.build(server.engine)
    backwards = {"from": "2026-11-01", "to": "2026-10-01"}
    with server.client(server.analytics) as client:
        for path in ("/v1/analytics/cohorts", "/v1/analytics/journal"):
            refused = client.get(path, params=backwards)
            assert refused.status_code == 422
            assert [e["path"] for e in refused.json()["errors"]] == ["to"]
            assert "must be after from" in refused.json()["errors"][0]["reason"]
        garbled = client.get("/v1/analytics/liability", params={"as_of": "last week"})
        assert garbled.status_code == 422
        assert [e["path"] for e in garbled.json()["errors"]] == ["as_of"]
        assert client.get("/v1/analytics/journal", params={**PERIOD, "format": "xml"}).status_code == 422
    with server.client(server.checkout) as checkout:
        for path in ("/v1/analytics/cohorts", "/v1/analytics/journal", "/v1/analytics/liability"):
            assert checkout.get(path, params=PERIOD).status_code == 403
