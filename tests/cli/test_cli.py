"""The operator's commands, run as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from loyalty.cli.main import app
from loyalty.storage.database import normalise_url

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "src" / "loyalty" / "demo" / "program.yaml"
runner = CliRunner()


def loyalty(*args: str, database: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--database", database])
    return result.exit_code, result.output


def count(database: str, table: str) -> int:
    engine = create_engine(normalise_url(database))
    with engine.connect() as conn:
        value = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(value)


def scalar(database: str, sql: str) -> int:
    engine = create_engine(normalise_url(database))
    with engine.connect() as conn:
        value = conn.execute(text(sql)).scalar_one()
    engine.dispose()
    return int(value or 0)


@pytest.fixture
def published(database_url: str) -> str:
    code, output = loyalty(
        "program", "publish", str(PROGRAM), "--effective-from", "1997-01-01T00:00:00+00:00", database=database_url
    )
    assert code == 0, output
    return database_url


def test_validate_names_every_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: X\nearning:\n  rules:\n    - id: base\n      percent: 150\nexpiry: {after_days: 0}\n"
        "redemption: {max_share_percent: -1}\n"
    )
    result = runner.invoke(app, ["program", "validate", str(bad)])
    assert result.exit_code == 2
    assert "earning.rules[0].percent" in result.output
    assert "expiry.after_days" in result.output
    assert "redemption.max_share_percent" in result.output
    assert runner.invoke(app, ["program", "validate", str(PROGRAM)]).exit_code == 0


def test_validate_says_each_action_cap_and_when_the_default_applied() -> None:
    result = runner.invoke(app, ["program", "validate", str(PROGRAM)])
    assert result.exit_code == 0, result.output
    assert "action registration: 500 points, once per lifetime (the default when no cap is given)" in result.output
    assert "action review: 50 points, at most 3 times per month" in result.output


def test_publish_is_versioned_and_refuses_an_earlier_date(published: str) -> None:
    code, output = loyalty(
        "program", "publish", str(PROGRAM), "--effective-from", "1997-01-01T00:00:00+00:00", database=published
    )
    assert code == 0
    assert count(published, "program_versions") == 1  # the same document and date again is a no-op
    code, output = loyalty("program", "publish", str(PROGRAM), "--effective-from", "1996-01-01", database=published)
    assert code == 2
    assert "effective_from" in output
    code, output = loyalty("program", "list", database=published)
    assert json.loads(output)[0]["version"] == 1


MEMBERS = """external_id,name,phone,email,gender,birth_date,registered_at,consent_email
m1,Anna,8 912 345-67-89,anna@example.com,female,1990-02-01,2026-01-10T10:00:00+03:00,true
m2,Boris,+7 913 000-00-01,,male,,2026-01-11T10:00:00+03:00,false
"""


def test_members_import_is_all_or_nothing_and_idempotent(published: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(MEMBERS + "m3,Vera,not-a-phone,,,,,\nm4,Gleb,,gleb@@x,unknown,1990-13-01,,maybe\n")
    code, output = loyalty("members", "import", str(bad), database=published)
    assert code == 2
    assert "line 4" in output and "phone" in output
    assert "line 5" in output and "email" in output and "gender" in output and "birth_date" in output
    assert count(published, "members") == 0

    good = tmp_path / "members.csv"
    good.write_text(MEMBERS)
    code, output = loyalty("members", "import", str(good), database=published)
    assert code == 0, output
    assert count(published, "members") == 2
    assert scalar(published, "SELECT sum(balance) FROM accounts") == 1000  # 500 welcome points each
    code, output = loyalty("members", "import", str(good), database=published)
    assert "0 created, 2 already there" in output
    assert scalar(published, "SELECT sum(balance) FROM accounts") == 1000
    assert scalar(published, "SELECT count(*) FROM member_identifiers WHERE value = '+79123456789'") == 1


ORDERS = """order_id,member_external_id,occurred_at,line_id,sku,category,quantity,price,discount,points
o1,m1,2026-02-01T12:00:00+03:00,1,coat,clothes,1,8000.00,,
o1,m1,2026-02-01T12:00:00+03:00,2,scarf,clothes,2,1000.00,,
o2,,2026-02-02T12:00:00+03:00,1,coat,clothes,1,500.00,,
"""


def test_orders_import_rejects_bad_files_whole_and_replays_good_ones(published: str, tmp_path: Path) -> None:
    good_members = tmp_path / "members.csv"
    good_members.write_text(MEMBERS)
    loyalty("members", "import", str(good_members), database=published)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        ORDERS + "o3,m1,2026-02-03,1,hat,,-1,10.00,,\no4,m1,2026-02-03,1,hat,,1,1.2.3,,\n"
        "o5,nobody,2026-02-03,1,hat,,1,10.00,,\n"
    )
    code, output = loyalty("orders", "import", str(bad), database=published)
    assert code == 2
    assert re.search(r"line 5: .*quantity", output)
    assert re.search(r"line 6: .*price", output)
    assert count(published, "orders") == 0

    good = tmp_path / "orders.csv"
    good.write_text(ORDERS)
    code, output = loyalty("orders", "import", str(good), database=published)
    assert code == 0, output
    assert count(published, "orders") == 2
    # 10,000 ₽ at 5% plus 1,000 points for a full 10,000 ₽ (the demo program's step rule)
    assert scalar(published, "SELECT sum(points) FROM ledger_entries WHERE kind = 'earn'") == 1500
    before = count(published, "ledger_entries")
    code, output = loyalty("orders", "import", str(good), database=published)
    assert code == 0 and "0 imported, 2 already there" in output
    assert count(published, "ledger_entries") == before

    unknown = tmp_path / "unknown.csv"
    unknown.write_text(ORDERS.splitlines()[0] + "\no9,nobody,2026-02-03,1,hat,,1,10.00,,\n")
    code, output = loyalty("orders", "import", str(unknown), database=published)
    assert code == 2 and "line 2" in output and "no member" in output


def test_cdnow_import_jobs_and_audit(published: str, tmp_path: Path) -> None:
    sample = tmp_path / "cdnow.txt"
    lines = (ROOT / "src" / "loyalty" / "demo" / "cdnow_sample.txt").read_text().splitlines()[:60]
    sample.write_text("\n".join(lines) + "\n")
    code, output = loyalty("orders", "import", str(sample), "--format", "cdnow", "--rate", "100", database=published)
    assert code == 0, output
    assert count(published, "orders") == 60
    customers = {line.split()[0] for line in lines}
    assert count(published, "members") == len(customers)
    code, output = loyalty("orders", "import", str(sample), "--format", "cdnow", "--rate", "100", database=published)
    assert "0 imported, 60 already there" in output

    code, output = loyalty("jobs", "run", "activate", "--as-of", "1998-12-31", database=published)
    assert code == 0, output
    code, output = loyalty("jobs", "run", "expire", "--as-of", "1999-12-31", database=published)
    assert code == 0, output
    assert scalar(published, "SELECT sum(balance) FROM accounts") == 0  # a year later everything has burned
    code, output = loyalty("audit", database=published)
    assert code == 0 and "Ledger OK" in output

    broken = tmp_path / "broken.txt"
    broken.write_text(
        " 00001 0001 19970101 2 10.00\n 00002 0002 1997013 1 5.00\n 00003 0003 19970101 x 5.00\n"
        " 00004 0004 19970230 1 5.00\n"
    )
    code, output = loyalty("orders", "import", str(broken), "--format", "cdnow", database=published)
    assert code == 2 and "line 2" in output and "line 3" in output
    assert "line 4: date: '19970230' is not a date YYYYMMDD" in output


def test_cdnow_import_reads_the_published_master_file_with_its_header(published: str, tmp_path: Path) -> None:
    """CDNOW_master.txt as published: customer id, date, quantity, amount (no sample id), CRLF line ends, and in
    some copies a first line naming the columns."""
    rows = [line.split() for line in (ROOT / "src" / "loyalty" / "demo" / "cdnow_sample.txt").read_text().splitlines()]
    master = tmp_path / "CDNOW_master.txt"
    body = "".join(f"{r[0]} {r[2]} {r[3]} {r[4]}\r\n" for r in rows[:20])
    master.write_bytes(("customer_id date quantity amount\r\n" + body).encode())
    code, output = loyalty("orders", "import", str(master), "--format", "cdnow", database=published)
    assert code == 0, output
    assert "20 imported" in output
    assert count(published, "orders") == 20

    compressed = tmp_path / "CDNOW_master.txt.gz"  # as the file is often downloaded
    compressed.write_bytes(gzip.compress(("customer_id date quantity amount\r\n" + body).encode()))
    code, output = loyalty("orders", "import", str(compressed), "--format", "cdnow", database=published)
    assert code == 0, output
    assert "0 imported, 20 already there" in output

    with_bom = tmp_path / "with_bom.txt"
    with_bom.write_bytes(("\ufeffCustomerID InvoiceDate Quantity Amount\n" + body).encode())
    code, output = loyalty("orders", "import", str(with_bom), "--format", "cdnow", database=published)
    assert code == 0, output
    assert "0 imported, 20 already there" in output

    garbage = tmp_path / "garbage.txt"
    garbage.write_text(
        "customer_id date quantity amount\n00001 19970101 1 11.77\n00002 19970112 1 12.00\n"
        "customer_id date quantity amount\n00003 19970102 two 20.76\nhello\n00004 19970101 2 29.33\n"
    )
    code, output = loyalty("orders", "import", str(garbage), "--format", "cdnow", database=published)
    assert code == 2
    said = " ".join(output.split())
    assert "line 4: column names are allowed only on the first line" in said
    assert "line 5: items: 'two' is not a positive whole number" in said
    assert "line 6: expected 4 or 5 columns" in said
    assert count(published, "orders") == 20  # nothing of the rejected file was imported


def test_summary_reports_the_totals_as_they_stood_at_a_date(published: str, tmp_path: Path) -> None:
    lines = (ROOT / "src" / "loyalty" / "demo" / "cdnow_sample.txt").read_text().splitlines()[:60]
    january = [line for line in lines if line.split()[2] <= "19970131"]
    assert 0 < len(january) < len(lines)

    def summary(as_of: str) -> dict[str, object]:
        code, output = loyalty("summary", "--as-of", as_of, database=published)
        assert code == 0, output
        totals: dict[str, object] = json.loads(output)
        return totals

    def import_rows(rows: list[str], name: str) -> None:
        path = tmp_path / name
        path.write_text("\n".join(rows) + "\n")
        code, output = loyalty("orders", "import", str(path), "--format", "cdnow", "--rate", "100", database=published)
        assert code == 0, output

    import_rows(january, "january.txt")
    in_january = summary("1997-01-31")
    assert in_january["orders"] == len(january)
    assert in_january["members"] == len({line.split()[0] for line in january})
    assert in_january["points_earned_on_orders"] == scalar(published, "SELECT sum(points_earned) FROM orders")
    assert in_january["points_outstanding"] == scalar(published, "SELECT sum(balance) FROM accounts")

    # What happened later changes nothing about how January ended.
    import_rows(lines, "all.txt")
    code, output = loyalty("jobs", "run", "expire", "--as-of", "1999-12-31", database=published)
    assert code == 0, output
    assert summary("1997-01-31") == in_january
    everything = summary("1999-12-31")
    assert everything["orders"] == 60
    assert everything["points_earned_on_orders"] == scalar(published, "SELECT sum(points_earned) FROM orders")
    assert everything["points_expired"] == everything["points_issued"]  # a year later every point has burned
    assert everything["points_outstanding"] == scalar(published, "SELECT sum(balance) FROM accounts") == 0
    before = summary("1996-12-31")
    assert {k: v for k, v in before.items() if k != "as_of"} == dict.fromkeys(everything.keys() - {"as_of"}, 0)


def test_audit_names_the_account_of_a_violation(published: str, tmp_path: Path) -> None:
    members_file = tmp_path / "members.csv"
    members_file.write_text(MEMBERS)
    loyalty("members", "import", str(members_file), database=published)
    engine = create_engine(normalise_url(published))
    with engine.begin() as conn:
        account = conn.execute(text("SELECT min(account_id) FROM accounts")).scalar_one()
        conn.execute(text("UPDATE accounts SET balance = balance + 7 WHERE account_id = :a"), {"a": account})
    engine.dispose()
    code, output = loyalty("audit", database=published)
    assert code == 1
    assert f"account {account}" in output


def test_demo_runs_from_the_command_line(tmp_path: Path) -> None:
    """`loyalty demo` as `make demo` runs it: a real process, the embedded SQLite default, twice."""
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    first = subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout[first.stdout.index("{") : first.stdout.rindex("}") + 1])
    assert summary["members"] == 2357
    assert summary["orders"] == 6919
    assert (
        summary["points_issued"]
        - summary["points_spent"]
        - summary["points_expired"]
        - summary["points_taken_back_by_returns"]
        == summary["points_outstanding"]
    )
    assert "Ledger audit: OK" in first.stdout
    assert (tmp_path / "loyalty.db").exists()
    # It ends with the KPIs of the history against the 70% line, and the charts written where it says.
    kpis = first.stdout[first.stdout.index("Ledger audit: OK") :]
    for figure in ("engagement (active / registered)", "70% line", "repeat purchase rate", "average check"):
        assert figure in kpis
    assert f"{summary['points_outstanding']} points" in kpis  # the liability is what the balances add up to
    assert "breakage" in kpis
    assert f"8 files in {tmp_path / 'loyalty-charts'}" in kpis.replace("\n", "")
    assert (tmp_path / "loyalty-charts" / "engagement.svg").read_bytes().startswith(b"<?xml")
    second = subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stderr
    assert "0 orders (6919 already there)" in second.stdout.replace("Imported ", "")


def test_an_effective_date_starts_at_midnight_in_the_programs_time_zone(database_url: str, tmp_path: Path) -> None:
    def program(name: str, percent: int) -> Path:
        path = tmp_path / f"{name}.json"
        document = {
            "name": name,
            "currency": "RUB",
            "timezone": "Europe/Moscow",
            "earning": {"rules": [{"id": "base", "percent": percent}]},
        }
        path.write_text(json.dumps(document))
        return path

    code, output = loyalty(
        "program", "publish", str(program("Autumn", 5)), "--effective-from", "2025-09-01", database=database_url
    )
    assert code == 0, output
    code, output = loyalty(
        "program", "publish", str(program("New year", 10)), "--effective-from", "2026-01-01", database=database_url
    )
    assert code == 0, output
    assert "in force from 2026-01-01T00:00:00+03:00" in output  # midnight in Moscow
    members = tmp_path / "members.csv"
    members.write_text("external_id,phone,registered_at\nm1,+79990004455,2025-12-01T10:00:00+03:00\n")
    assert loyalty("members", "import", str(members), database=database_url)[0] == 0
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,member_external_id,occurred_at,line_id,sku,category,quantity,price,discount,points\n"
        "eve,m1,2025-12-31T23:30:00+03:00,1,tea,,1,1000.00,,\n"
        "night,m1,2026-01-01T00:30:00+03:00,1,tea,,1,1000.00,,\n"
    )
    code, output = loyalty("orders", "import", str(orders), database=database_url)
    assert code == 0, output
    assert scalar(database_url, "SELECT program_version FROM orders WHERE order_key = 'eve'") == 1
    assert scalar(database_url, "SELECT points_earned FROM orders WHERE order_key = 'eve'") == 50
    assert scalar(database_url, "SELECT program_version FROM orders WHERE order_key = 'night'") == 2
    assert scalar(database_url, "SELECT points_earned FROM orders WHERE order_key = 'night'") == 100
    code, output = loyalty(
        "program", "publish", str(program("Spring", 7)), "--effective-from", "2026-02-30", database=database_url
    )
    assert code == 2 and "effective-from" in output
    code, output = loyalty(
        "program",
        "publish",
        str(program("Spring", 7)),
        "--effective-from",
        "2026-03-01T00:00:00",
        database=database_url,
    )
    assert code == 2 and "offset" in output
    assert count(database_url, "program_versions") == 2


def test_imports_read_identifiers_as_registration_does(published: str, tmp_path: Path) -> None:
    """The same canonical forms and refusals as the API: a fullwidth external id is the member already there, an
    email in NFD is the NFC one, and invisible or look-alike characters reject the file, naming line and reason."""
    good = tmp_path / "members.csv"
    good.write_text(MEMBERS)
    assert loyalty("members", "import", str(good), database=published)[0] == 0
    header = MEMBERS.splitlines()[0]
    again = tmp_path / "again.csv"
    again.write_text(f"{header}\nｍ１,Anna,,,,,,\n")
    code, output = loyalty("members", "import", str(again), database=published)
    assert code == 0 and "0 created, 1 already there" in output, output
    nfc = tmp_path / "nfc.csv"
    nfc.write_text(f"{header}\nm7,Zoë,,zo\u00eb@example.com,,,,\n")
    assert loyalty("members", "import", str(nfc), database=published)[0] == 0
    nfd = tmp_path / "nfd.csv"
    nfd.write_text(f"{header}\nm8,Zoë,,zoe\u0308@example.com,,,,\nm9,Anna,,ａｎｎａ@example.com,,,,\n")
    code, output = loyalty("members", "import", str(nfd), database=published)
    assert code == 2, output
    assert re.search(r"line 2: .*zoë@example.com already belongs", output), output
    assert re.search(r"line 3: .*anna@example.com already belongs", output), output
    assert count(published, "members") == 3

    bad = tmp_path / "bad.csv"
    bad.write_text(f"{header}\nm3,Vera,,ve\u200bra@example.com,,,,\nm4,Gleb,,gleb@exаmple.com,,,,\n")
    code, output = loyalty("members", "import", str(bad), database=published)
    assert code == 2
    assert re.search(r"line 2: email: must not contain control or invisible characters", output), output
    assert re.search(r"line 3: email: mixes Cyrillic and Latin letters", output), output
    unborn = tmp_path / "unborn.csv"
    unborn.write_text(f"{header}\nm5,Ivan,,,,3000-01-01,,\nm6,Olga,,,,1899-12-31,,\n")
    code, output = loyalty("members", "import", str(unborn), database=published)
    assert code == 2
    assert "line 2: birth_date: 3000-01-01 is in the future" in output, output
    assert "line 3: birth_date: must be 1900-01-01 or later" in output, output
    assert count(published, "members") == 3

    orders = tmp_path / "orders.csv"
    orders.write_text(
        ORDERS.splitlines()[0] + "\nORD-2026/11,m1,2026-02-03,1,hat,,1,10.00,,\no6,ｍ２,2026-02-03,1,hat,,1,10.00,,\n"
        "o7,m\u200b1,2026-02-03,1,hat,,1,10.00,,\n"
    )
    code, output = loyalty("orders", "import", str(orders), database=published)
    assert code == 2
    assert re.search(r"line 2: order_id: must not contain '/'", output), output
    assert re.search(r"line 4: member_external_id: must not contain control or invisible", output), output
    assert "line 3" not in output  # the fullwidth external id is member m2's
    assert count(published, "orders") == 0


def test_the_cli_reads_a_bare_date_as_the_api_does_and_refuses_a_time_without_offset(published: str) -> None:
    """As of a bare date is the end of that day in the program's time zone (the demo program's: Moscow), as in
    tests/api/test_jobs_api.py; a date-time without its offset is refused, naming the option."""
    code, output = loyalty("jobs", "run", "activate", "--as-of", "2026-11-30", database=published)
    assert code == 0, output
    assert "as of 2026-11-30T23:59:59.999999+03:00" in output
    code, output = loyalty("segments", "recompute", "--as-of", "2026-11-30", database=published)
    assert code == 0, output
    assert "as of 2026-11-30T23:59:59.999999+03:00" in output
    code, output = loyalty("jobs", "run", "activate", "--as-of", "2026-11-30T12:00:00", database=published)
    assert code == 2
    assert "--as-of" in output and "offset" in output


def _registered_and_occurred(database: str) -> tuple[list[datetime], list[datetime]]:
    from sqlalchemy import select

    from loyalty.storage import tables as t

    engine = create_engine(normalise_url(database))
    with engine.connect() as conn:
        registered = list(conn.execute(select(t.members.c.registered_at).order_by(t.members.c.member_id)).scalars())
        occurred = list(conn.execute(select(t.orders.c.occurred_at).order_by(t.orders.c.order_key)).scalars())
    engine.dispose()
    return registered, occurred


def test_imports_read_instants_as_the_api_does(published: str, tmp_path: Path) -> None:
    """A bare date is the start of that day in the program's time zone; a time without offset, or one in the
    future, is a bad line naming its column."""
    bad = tmp_path / "bad_members.csv"
    bad.write_text("external_id,registered_at\nm1,2026-01-10T10:00:00\nm2,2999-01-01T00:00:00+00:00\nm3,2026-13-01\n")
    code, output = loyalty("members", "import", str(bad), database=published)
    assert code == 2
    assert re.search(r"line 2: registered_at: .*offset", output)
    assert re.search(r"line 3: registered_at: is in the future", output)
    assert re.search(r"line 4: registered_at: ", output)

    good = tmp_path / "members.csv"
    good.write_text("external_id,registered_at\nm1,2026-01-10\n")
    code, output = loyalty("members", "import", str(good), database=published)
    assert code == 0, output
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS.splitlines()[0] + "\no1,m1,2026-02-01,1,coat,clothes,1,800.00,,\n")
    code, output = loyalty("orders", "import", str(orders), database=published)
    assert code == 0, output
    naive = tmp_path / "naive_orders.csv"
    naive.write_text(ORDERS.splitlines()[0] + "\no2,m1,2026-02-01T12:00:00,1,coat,clothes,1,800.00,,\n")
    code, output = loyalty("orders", "import", str(naive), database=published)
    assert code == 2 and re.search(r"line 2: occurred_at: .*offset", output)

    registered, occurred = _registered_and_occurred(published)
    assert registered == [datetime(2026, 1, 9, 21, 0, tzinfo=UTC)]  # 10 January 00:00 in Moscow
    assert occurred == [datetime(2026, 1, 31, 21, 0, tzinfo=UTC)]


def test_a_database_without_tables_is_named_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    """A real process on a database never upgraded: one line saying so and what to run, no traceback."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "summary", "--database", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "run `loyalty db upgrade` first" in done.stderr and "no such table" in done.stderr
    assert "Traceback" not in done.stderr
