"""`loyalty experiment create|list|report|size` and the Chicken Club walkthrough of the README: stores imported
with their cities, the program in one city and not in another, orders confirmed, the report read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from loyalty.cli.main import app
from loyalty.experiments.model import in_holdout
from loyalty.storage.database import make_engine
from tests.cli.test_cli import loyalty, runner
from tests.experiments.test_holdouts_outside_checkout import BIRTHDAY
from tests.usecases import confirm, order, publish, register

NOVEMBER = datetime(2026, 11, 10, 9, tzinfo=UTC)


def test_the_chicken_club_test_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    publish(engine)
    (tmp_path / "stores.csv").write_text("store_id,city,name\nmsk-1,Moscow,Arbat\nmsk-2,Moscow,\ntver-1,Tver,Centre\n")
    code, output = loyalty("stores", "import", str(tmp_path / "stores.csv"), database=database_url)
    assert code == 0, output
    code, output = loyalty(
        "experiment", "create", "chicken-club", "--name", "Program in Moscow, not in Tver", "--kind", "cities",
        "--treatment", "Moscow", "--control", "Tver", "--from", "2026-11-01", "--to", "2026-12-01",
        database=database_url,
    )  # fmt: skip
    assert code == 0, output
    assert "chicken-club (cities, withholds program)" in output
    people = [register(engine, f"+7912300{i:04d}", at=datetime(2026, 10, 1, tzinfo=UTC)) for i in range(6)]
    earned = {}
    for i, member in enumerate(people):
        store = ("msk-1", "msk-2", "tver-1")[i % 3]
        body = order(f"o-{i}", ("tv", "2000", 1), member={"member_id": member}, occurred_at=NOVEMBER, store=store)
        earned[store] = confirm(engine, body, NOVEMBER)["points_to_earn"]
    assert earned == {"msk-1": 100, "msk-2": 100, "tver-1": 0}

    code, output = loyalty("experiment", "report", "chicken-club", "--json", database=database_url)
    assert code == 0, output
    report = json.loads(output)
    assert (report["groups"]["treatment"]["customers"], report["groups"]["control"]["customers"]) == (4, 2)
    assert report["metrics"]["spend_per_customer"]["treatment"]["mean"] == "2000.00"
    code, output = loyalty("experiment", "report", "chicken-club", database=database_url)
    assert code == 0, output
    assert "orders_per_customer" in output and "orders_per_store_week" in output
    assert "2000.00 (4)" in output  # spend per customer in Moscow, 4 customers
    code, output = loyalty("experiment", "list", database=database_url)
    assert "chicken-club" in output and "Moscow vs Tver" in output
    code, output = loyalty(
        "experiment", "report", "chicken-club", "--charts", str(tmp_path / "charts"), database=database_url
    )
    assert code == 0, output
    svg = (tmp_path / "charts" / "experiment-chicken-club.svg").read_text()
    assert "Program in Moscow, not in Tver: lift, treatment against control" in svg and "spend per customer" in svg
    assert (tmp_path / "charts" / "experiment-chicken-club.png").read_bytes().startswith(b"\x89PNG")
    engine.dispose()


def test_a_holdout_and_bad_options_named(database_url: str) -> None:
    engine = make_engine(database_url)
    publish(engine)
    code, output = loyalty(
        "experiment", "create", "h", "--name", "Holdout", "--kind", "holdout", "--share", "0.7",
        "--from", "2026-11-01", "--to", "2026-10-01", database=database_url,
    )  # fmt: skip
    assert code == 2
    assert "share: must be a share above 0 and at most 0.5" in output
    assert "ends_at: must be after starts_at" in output
    code, output = loyalty(
        "experiment", "create", "h", "--name", "Holdout", "--kind", "holdout", "--share", "0.2", "--seed", "5",
        "--withholds", "campaigns", "--from", "2026-11-01", "--to", "2026-12-01", database=database_url,
    )  # fmt: skip
    assert code == 0, output
    people = [register(engine, f"+7912400{i:04d}", at=datetime(2026, 10, 1, tzinfo=UTC)) for i in range(20)]
    code, output = loyalty("experiment", "report", "h", "--json", database=database_url)
    held = sum(in_holdout(5, Decimal("0.2"), m) for m in people)
    assert json.loads(output)["groups"]["control"]["customers"] == held
    assert json.loads(output)["metrics"]["orders_per_customer"]["verdict"] == "too few to tell" or held >= 2
    code, output = loyalty("experiment", "report", "nothing", database=database_url)
    assert code != 0
    engine.dispose()


def test_size_plans_a_test() -> None:
    result = runner.invoke(app, ["experiment", "size", "--mean", "100", "--sd", "30", "--effect", "0.05"])
    assert result.exit_code == 0, result.output
    assert "566 per group, 1132 in all" in result.output
    result = runner.invoke(app, ["experiment", "size", "--mean", "100", "--sd", "0", "--effect", "0.05"])
    assert result.exit_code == 2 and "sd: must be above 0" in result.output


def test_the_birthday_job_withholds_the_gift_from_a_program_holdout(database_url: str) -> None:
    engine = make_engine(database_url)
    publish(engine, BIRTHDAY)
    born = [
        register(engine, f"+7912500{i:04d}", at=datetime(2026, 10, 1, tzinfo=UTC), birth_date="1990-11-02")
        for i in range(8)
    ]
    code, output = loyalty(
        "experiment", "create", "no-program", "--name", "Holdout", "--kind", "holdout", "--share", "0.5",
        "--seed", "7", "--from", "2026-11-01", "--to", "2026-12-01", database=database_url,
    )  # fmt: skip
    assert code == 0, output
    held = sum(in_holdout(7, Decimal("0.5"), m) for m in born)
    assert 0 < held < 8
    code, output = loyalty("jobs", "run", "birthdays", "--as-of", "2026-11-02", database=database_url)
    assert code == 0, output
    assert f"{300 * (8 - held)} points to {8 - held} members, {held} withheld" in " ".join(output.split())
    code, output = loyalty("jobs", "run", "birthdays", "--as-of", "2027-11-02", database=database_url)
    assert "2400 points to 8 members, 0 withheld" in " ".join(output.split())
    engine.dispose()
