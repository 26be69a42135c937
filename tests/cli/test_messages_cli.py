"""`loyalty messaging`: channels, the rules of contact, templates and triggers from files, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import PROGRAM, loyalty


@pytest.fixture
def published(database_url: str) -> str:
    code, output = loyalty("program", "publish", str(PROGRAM), "--effective-from", "2026-01-01", database=database_url)
    assert code == 0, output
    return database_url


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_marketer_sets_up_an_sms_reminder_from_files(published: str, tmp_path: Path) -> None:
    template = write(
        tmp_path / "template.yaml",
        """
channel: sms
name: Points burn soon
wordings:
  ru:
    text: "{{ name }}, {{ points_expiring | points }} сгорят {{ expiring_on | date }}"
""",
    )
    code, output = loyalty("messaging", "template", "expiring-sms", template, database=published)
    assert code == 0, output
    code, output = loyalty("messaging", "preview", "expiring-sms", database=published)
    assert code == 0 and "Анна, 300 баллов сгорят 30 ноября 2026" in output

    trigger = write(
        tmp_path / "trigger.yaml",
        "event: points.expiring\nchannel: sms\ntemplate_id: expiring-sms\npurpose: transactional\nbefore_expiry_days: 7\n",
    )
    code, output = loyalty("messaging", "trigger", "expiring-7d", trigger, database=published)
    assert code == 0, output
    code, output = loyalty("messaging", "triggers", database=published)
    assert json.loads(output)[0]["before_expiry_days"] == 7

    gateway = write(
        tmp_path / "sms.yaml",
        'url: https://sms.example/v1/send\nheaders: {Authorization: "Bearer k-123"}\nbody: \'{"to": "{phone}", "text": "{text}"}\'\n',
    )
    code, output = loyalty("messaging", "channel", "sms", gateway, database=published)
    assert code == 0, output
    assert "k-123" not in output and "********" in output
    policy = write(
        tmp_path / "policy.yaml", "quiet_hours: {from: '21:00', to: '09:00'}\ncaps: {sms: {count: 1, per: day}}\n"
    )
    code, output = loyalty("messaging", "policy", policy, database=published)
    assert code == 0 and json.loads(output)["caps"] == {"sms": {"count": 1, "per": "day"}}


def test_a_bad_file_is_refused_with_each_problem_and_its_place(published: str, tmp_path: Path) -> None:
    template = write(tmp_path / "bad.yaml", "channel: sms\nname: Bad\nwordings:\n  ru:\n    text: '{{ nme }}'\n")
    code, output = loyalty("messaging", "template", "bad", template, database=published)
    assert code == 2 and "wordings.ru.text" in output and "nme" in output
    trigger = write(tmp_path / "trigger.yaml", "event: points.stolen\nchannel: fax\ntemplate_id: x\n")
    code, output = loyalty("messaging", "trigger", "t", trigger, database=published)
    assert code == 2 and "event" in output and "channel" in output
    code, output = loyalty("messaging", "templates", database=published)
    assert json.loads(output) == []
