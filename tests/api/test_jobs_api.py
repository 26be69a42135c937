"""The job routes over HTTP: an Idempotency-Key like every other POST, a bare date read as the CLI reads it, and
each job answering with its own result."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from loyalty.http.app import openapi_document

from .conftest import SEED_PROGRAM, Server


@pytest.fixture
def admin_at_now(november_server: Server) -> Iterator[httpx.Client]:
    """An admin client on a server at NOVEMBER_1 (2026-11-01 12:00 UTC), the seed program (Moscow) in force, and one
    member with the 500 welcome points, which burn on 2027-11-01 at 12:00 UTC."""
    with november_server.client(november_server.admin) as admin:
        published = admin.post(
            "/v1/program/versions", json={"document": SEED_PROGRAM, "effective_from": "2026-01-01T00:00:00+03:00"}
        )
        assert published.status_code == 201, published.text
        assert admin.post("/v1/members", json={"card": "C-1"}).status_code == 201
        yield admin


def test_a_job_with_an_idempotency_key_replays_its_first_response(admin_at_now: httpx.Client) -> None:
    body = {"as_of": "2027-12-01T00:00:00+03:00"}
    first = admin_at_now.post("/v1/jobs/expire", json=body, headers={"Idempotency-Key": "expire-dec"})
    assert first.status_code == 200, first.text
    assert first.json()["points"] == 500

    again = admin_at_now.post("/v1/jobs/expire", json=body, headers={"Idempotency-Key": "expire-dec"})
    assert again.status_code == 200
    assert again.json() == first.json()  # a second run would have found nothing left to burn
    assert again.headers["Idempotent-Replayed"] == "true"

    other = admin_at_now.post(
        "/v1/jobs/expire", json={"as_of": "2027-12-02T00:00:00+03:00"}, headers={"Idempotency-Key": "expire-dec"}
    )
    assert other.status_code == 409
    assert other.json()["type"].endswith("/idempotency-key-reused")

    rerun = admin_at_now.post("/v1/jobs/expire", json=body)
    assert rerun.status_code == 200 and rerun.json()["points"] == 0


def test_a_job_without_a_body_replays_by_its_key_though_now_has_moved_on(admin_at_now: httpx.Client) -> None:
    first = admin_at_now.post("/v1/jobs/activate", headers={"Idempotency-Key": "activate-1"})
    again = admin_at_now.post("/v1/jobs/activate", headers={"Idempotency-Key": "activate-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_job_as_of_a_bare_date_runs_as_of_the_end_of_that_day_in_the_program_time_zone(
    admin_at_now: httpx.Client,
) -> None:
    before = admin_at_now.post("/v1/jobs/expire", json={"as_of": "2027-10-31"})
    assert before.status_code == 200, before.text
    assert before.json() == {"job": "expire", "as_of": "2027-10-31T23:59:59.999999+03:00", "accounts": 0, "points": 0}
    on_the_day = admin_at_now.post("/v1/jobs/expire", json={"as_of": "2027-11-01"})
    assert on_the_day.json() == {
        "job": "expire",
        "as_of": "2027-11-01T23:59:59.999999+03:00",
        "accounts": 1,
        "points": 500,
    }
    naive = admin_at_now.post("/v1/jobs/expire", json={"as_of": "2027-11-01T12:00:00"})
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["path"] == "as_of"
    assert "offset" in naive.json()["errors"][0]["reason"]


OWN_FIELDS = {
    "activate": {"lots", "points"},
    "expire": {"accounts", "points"},
    "tiers": {"members", "upgraded", "downgraded", "held"},
    "birthdays": {"members", "points", "withheld"},
    "referrals": {"rewarded"},
    "win-back": {"granted", "points", "withheld"},
    "segments": {"segments", "members", "skipped"},
}


def test_each_job_answers_with_its_own_result_and_no_other_job_fields(admin_at_now: httpx.Client) -> None:
    for job, fields in OWN_FIELDS.items():
        response = admin_at_now.post(f"/v1/jobs/{job}", json={"as_of": "2026-11-01"})
        assert response.status_code == 200, f"{job}: {response.text}"
        result = response.json()
        assert set(result) == {"job", "as_of", *fields}, job
        assert result["job"] == job
        assert None not in result.values(), job


def test_the_openapi_document_gives_each_job_its_own_result_schema() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    seen = set()
    for job, fields in OWN_FIELDS.items():
        response = document["paths"][f"/v1/jobs/{job}"]["post"]["responses"]["200"]["content"]["application/json"]
        name = response["schema"]["$ref"].rsplit("/", 1)[1]
        seen.add(name)
        schema = schemas[name]
        assert set(schema["properties"]) == {"job", "as_of", *fields}, job
        assert set(schema["required"]) == {"job", "as_of", *fields}, job
        assert schema["properties"]["job"]["const"] == job
    assert len(seen) == len(OWN_FIELDS)
