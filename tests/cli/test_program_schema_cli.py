"""`loyalty program schema` prints the JSON Schema an editor checks a program document (or a campaign) against."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from loyalty.campaigns.publishing import document_schema
from loyalty.cli.main import app

runner = CliRunner()


def test_the_program_schema_is_printed_as_json_to_save_to_a_file() -> None:
    result = runner.invoke(app, ["program", "schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == document_schema("program")


def test_the_campaign_schema_is_printed_on_request() -> None:
    result = runner.invoke(app, ["program", "schema", "--document", "campaign"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["title"] == "Loyalty campaign or personal offer"


def test_an_unknown_document_is_refused_with_the_choices() -> None:
    result = runner.invoke(app, ["program", "schema", "--document", "menu"])
    assert result.exit_code == 2
    assert "document: must be one of ['campaign', 'program', 'segment'], got 'menu'" in " ".join(result.output.split())
