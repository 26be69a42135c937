"""Webhook endpoints, the delivery log, replay, the event list, job runs and the schedule over HTTP, with a real
receiver: what an integrator sets up and watches."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from random import Random

import httpx
import pytest

from loyalty.jobs.worker import Worker
from tests.messaging.receiver import Receiver, receiver

from .conftest import SEED_PROGRAM, Server


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def admin_with_program(server: Server) -> Iterator[httpx.Client]:
    with server.client(server.admin) as admin:
        published = admin.post(
            "/v1/program/versions", json={"document": SEED_PROGRAM, "effective_from": "2026-01-01T00:00:00+03:00"}
        )
        assert published.status_code == 201, published.text
        yield admin


def tick(server: Server) -> dict[str, object]:
    with httpx.Client() as client:
        return Worker(server.engine, server.clock, name="test", client=client, rng=Random(1)).tick().as_dict()


def test_an_integrator_subscribes_and_receives_signed_events(
    server: Server, admin_with_program: httpx.Client, hook: Receiver
) -> None:
    admin = admin_with_program
    created = admin.post(
        "/v1/webhooks", json={"endpoint_id": "crm", "url": hook.url, "kinds": ["member.registered", "points.earned"]}
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    shown = admin.get("/v1/webhooks/crm").json()
    assert "secret" not in shown or shown["secret"] is None
    assert secret not in admin.get("/v1/webhooks").text

    with server.client(server.checkout) as shop:
        member_id = shop.post("/v1/members", json={"phone": "+79990001122"}).json()["member_id"]
    tick(server)
    assert [json.loads(r.body)["type"] for r in hook.requests] == ["member.registered", "points.earned"]

    log = admin.get("/v1/deliveries", params={"target": "crm"}).json()
    assert [d["status"] for d in log["deliveries"]] == ["delivered", "delivered"]
    one = admin.get(f"/v1/deliveries/{log['deliveries'][0]['delivery_id']}").json()
    assert one["log"][0]["status_code"] == 200

    events = admin.get("/v1/events", params={"member_id": member_id}).json()["events"]
    assert [e["kind"] for e in events] == ["member.registered", "points.earned"]
    assert all(e["dispatched_at"] is not None for e in events)
    kinds = admin.get("/v1/events/kinds").json()["kinds"]
    assert {"kind": "points.expiring", "description": kinds[4]["description"]} in kinds


def test_a_dead_delivery_is_replayed_by_id_and_by_range(
    server: Server, admin_with_program: httpx.Client, hook: Receiver
) -> None:
    admin = admin_with_program
    admin.post("/v1/webhooks", json={"endpoint_id": "crm", "url": hook.url, "kinds": ["member.registered"]})
    with server.client(server.checkout) as shop:
        shop.post("/v1/members", json={"phone": "+79990001122"})
    hook.answers = [410]
    tick(server)
    (dead,) = admin.get("/v1/deliveries", params={"status": "dead"}).json()["deliveries"]

    hook.answers = [200]
    replayed = admin.post(f"/v1/deliveries/{dead['delivery_id']}/replay")
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    tick(server)
    assert admin.get(f"/v1/deliveries/{dead['delivery_id']}").json()["status"] == "delivered"

    day = server.clock().date().isoformat()
    again = admin.post("/v1/deliveries/replay", json={"from": day, "to": "2099-01-01", "target": "crm"})
    assert again.status_code == 200 and again.json() == {"replayed": 1}
    tick(server)
    assert len(hook.requests) == 3
    assert len({r.headers["webhook-id"] for r in hook.requests}) == 1


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"endpoint_id": "crm", "url": "ftp://x.example.com/"}, "url"),
        ({"endpoint_id": "crm", "url": "https://x.example.com/", "kinds": ["points.stolen"]}, "kinds[0]"),
        ({"endpoint_id": "Bad Id", "url": "https://x.example.com/"}, "endpoint_id"),
        ({"endpoint_id": "crm", "url": "https://x.example.com/", "secret": "plain"}, "secret"),
        ({"endpoint_id": "crm", "url": "https://x.example.com/" + "a" * 2000}, "url"),
        ({"endpoint_id": "crm", "url": "https://x.example.com/", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_endpoint_is_422_naming_the_field(server: Server, body: dict[str, object], path: str) -> None:
    with server.client(server.admin) as admin:
        refused = admin.post("/v1/webhooks", json=body)
        assert refused.status_code == 422, refused.text
        assert path in [e["path"] for e in refused.json()["errors"]]
        assert admin.get("/v1/webhooks").json() == {"endpoints": []}


def test_webhooks_are_for_admin_keys_only(server: Server) -> None:
    with server.client(server.checkout) as shop:
        assert shop.get("/v1/webhooks").status_code == 403
        assert shop.get("/v1/deliveries").status_code == 403
        assert shop.get("/v1/events").status_code == 403


def test_an_endpoint_is_changed_and_removed(admin_with_program: httpx.Client) -> None:
    admin = admin_with_program
    admin.post("/v1/webhooks", json={"endpoint_id": "crm", "url": "https://crm.example.com/a"})
    changed = admin.patch("/v1/webhooks/crm", json={"url": "https://crm.example.com/b", "enabled": False})
    assert changed.status_code == 200
    assert (changed.json()["url"], changed.json()["enabled"]) == ("https://crm.example.com/b", False)
    assert admin.patch("/v1/webhooks/nobody", json={"enabled": True}).status_code == 404
    removed = admin.delete("/v1/webhooks/crm")
    assert removed.status_code == 200
    assert admin.get("/v1/webhooks/crm").status_code == 404


def test_job_runs_and_the_schedule(server: Server, admin_with_program: httpx.Client) -> None:
    admin = admin_with_program
    assert admin.post("/v1/jobs/expire", json={}).status_code == 200
    runs = admin.get("/v1/jobs/runs").json()["runs"]
    assert [(r["job"], r["trigger"], r["status"]) for r in runs] == [("expire", "api", "succeeded")]

    schedule = admin.get("/v1/jobs/schedule").json()["schedule"]
    assert schedule["expire"] == "daily 00:10"
    changed = admin.put("/v1/jobs/schedule", json={"schedule": {"tiers": "Every 2h", "win-back": "off"}})
    assert changed.status_code == 200
    assert (changed.json()["schedule"]["tiers"], changed.json()["schedule"]["win-back"]) == ("every 2h", "off")
    refused = admin.put("/v1/jobs/schedule", json={"schedule": {"tiers": "sometimes", "nap": "daily 01:00"}})
    assert refused.status_code == 422
    assert {e["path"] for e in refused.json()["errors"]} == {"tiers", "nap"}
    assert admin.get("/v1/jobs/schedule").json()["schedule"]["tiers"] == "every 2h"

    tick(server)
    scheduled = admin.get("/v1/jobs/runs", params={"job": "tiers"}).json()["runs"]
    assert [(r["trigger"], r["worker"]) for r in scheduled] == [("schedule", "test")]
    page = admin.get("/v1/jobs/runs", params={"limit": 2}).json()
    assert len(page["runs"]) == 2 and page["next_cursor"] is not None
    rest = admin.get("/v1/jobs/runs", params={"cursor": page["next_cursor"], "limit": 1000}).json()["runs"]
    assert {r["run_id"] for r in rest}.isdisjoint({r["run_id"] for r in page["runs"]})


def test_a_marketer_writes_a_template_previews_it_and_sets_a_trigger(admin_with_program: httpx.Client) -> None:
    admin = admin_with_program
    template = {
        "channel": "sms",
        "name": "Points burn soon",
        "wordings": {
            "ru": {"text": "{{ name }}, {{ points_expiring | points }} сгорят {{ expiring_on | date }}"},
            "en": {"text": "{{ name }}, {{ points_expiring | points }} expire on {{ expiring_on | date }}"},
        },
    }
    saved = admin.put("/v1/messaging/templates/expiring-sms", json=template)
    assert saved.status_code == 200, saved.text
    preview = admin.post("/v1/messaging/templates/expiring-sms/preview", json={"language": "ru"})
    assert preview.json()["text"] == "Анна, 300 баллов сгорят 30 ноября 2026\u202fг."
    assert admin.post("/v1/messaging/templates/expiring-sms/preview").json()["language"] == "ru"

    broken = {**template, "wordings": {"ru": {"text": "{{ name }, {{ pints }}"}}}
    refused = admin.put("/v1/messaging/templates/broken", json=broken)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "wordings.ru.text"
    assert admin.get("/v1/messaging/templates/broken").status_code == 404

    trigger = {"event": "points.expiring", "channel": "sms", "template_id": "expiring-sms", "before_expiry_days": 7}
    made = admin.put("/v1/messaging/triggers/expiring-7d", json={**trigger, "purpose": "transactional"})
    assert made.status_code == 200, made.text
    assert made.json()["before_expiry_days"] == 7
    wrong = admin.put("/v1/messaging/triggers/bad", json={**trigger, "event": "points.earned"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["path"] == "before_expiry_days"
    assert admin.delete("/v1/messaging/templates/expiring-sms").status_code == 409
    assert [t["trigger_id"] for t in admin.get("/v1/messaging/triggers").json()["triggers"]] == ["expiring-7d"]
    assert admin.delete("/v1/messaging/triggers/expiring-7d").json()["trigger_id"] == "expiring-7d"
    assert admin.delete("/v1/messaging/templates/expiring-sms").json()["template_id"] == "expiring-sms"


def test_channel_secrets_are_write_only_and_the_policy_is_validated(admin_with_program: httpx.Client) -> None:
    admin = admin_with_program
    smtp = {
        "host": "smtp.example.com",
        "port": 587,
        "from_address": "news@shop.example",
        "username": "u",
        "password": "p@ss",
    }
    shown = admin.put("/v1/messaging/channels/email", json=smtp)
    assert shown.status_code == 200, shown.text
    assert shown.json()["settings"]["password"] == "********"
    assert "p@ss" not in admin.get("/v1/messaging/channels/email").text
    assert admin.get("/v1/messaging/channels/sms").status_code == 404

    policy = {"quiet_hours": {"from": "21:00", "to": "09:00"}, "caps": {"sms": {"count": 1, "per": "day"}}}
    assert admin.put("/v1/messaging/policy", json=policy).json()["quiet_hours"]["from"] == "21:00"
    bad = admin.put("/v1/messaging/policy", json={"quiet_hours": {"from": "25:00", "to": "09:00"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "quiet_hours.from"


def test_links_in_messages_work_without_a_key_and_cannot_be_forged(
    server: Server, admin_with_program: httpx.Client
) -> None:
    from loyalty.messaging import tracking

    with server.client(server.checkout) as shop:
        member_id = shop.post("/v1/members", json={"email": "anna@example.com", "consents": {"email": True}}).json()[
            "member_id"
        ]
    key = tracking.secret(server.engine)
    unsubscribe = tracking.unsubscribe_url(key, server.url, member_id, tracking.Channel.EMAIL)
    with httpx.Client() as anyone:
        page = anyone.get(unsubscribe)
        assert page.status_code == 200 and "<form method='post'>" in page.text
        member = admin_with_program.get(f"/v1/members/{member_id}").json()
        assert member["consents"]["email"]["granted"] is True  # a GET changes nothing (mail scanners follow links)
        done = anyone.post(unsubscribe, content=b"List-Unsubscribe=One-Click")
        assert done.status_code == 200 and done.json() == {"member_id": member_id, "consent": "email", "granted": False}
        member = admin_with_program.get(f"/v1/members/{member_id}").json()
        assert member["consents"]["email"]["source"] == "unsubscribe link"
        assert anyone.post(unsubscribe[:-2] + "xx").status_code == 404
        assert (
            anyone.get(f"{server.url}/v1/t/c/{tracking.sign(b'not-the-key', 'c|1|https://evil.example')}").status_code
            == 404
        )


def test_the_longest_allowed_values_are_stored_whole(admin_with_program: httpx.Client) -> None:
    admin = admin_with_program
    endpoint_id = "e" * 64
    url = "https://crm.example.com/" + "a" * (2000 - len("https://crm.example.com/"))
    body = {"endpoint_id": endpoint_id, "url": url, "description": "d" * 200, "kinds": ["points.earned"]}
    created = admin.post("/v1/webhooks", json=body)
    assert created.status_code == 201, created.text
    shown = admin.get(f"/v1/webhooks/{endpoint_id}").json()
    assert (shown["url"], shown["description"]) == (url, "d" * 200)
    assert admin.post("/v1/webhooks", json={**body, "endpoint_id": "e" * 65}).status_code == 422

    template_id = "t" * 64
    wording = {"subject": "s" * 200, "html": "h" * 100_000, "text": "x" * 2000}
    saved = admin.put(
        f"/v1/messaging/templates/{template_id}",
        json={"channel": "email", "name": "n" * 200, "wordings": {"ru": wording}},
    )
    assert saved.status_code == 200, saved.text[:500]
    assert admin.get(f"/v1/messaging/templates/{template_id}").json()["wordings"]["ru"] == wording
    trigger = {"event": "points.earned", "channel": "email", "template_id": template_id}
    assert admin.put(f"/v1/messaging/triggers/{'r' * 64}", json=trigger).status_code == 200
    too_long = admin.put(f"/v1/messaging/triggers/{'r' * 65}", json=trigger)
    assert too_long.status_code == 422


def test_survey_answers_arrive_as_events(server: Server, admin_with_program: httpx.Client) -> None:
    with server.client(server.checkout) as shop:
        member_id = shop.post("/v1/members", json={"phone": "+79990001122"}).json()["member_id"]
        body = {"survey_id": "nps-2026-11", "member": {"member_id": member_id}, "answers": {"recommend": "10"}}
        first = shop.post("/v1/events/survey-answered", json=body)
        assert first.status_code == 200, first.text
        assert first.json()["recorded"] is True
        assert shop.post("/v1/events/survey-answered", json=body).json()["recorded"] is False
        too_many = {**body, "answers": {f"q{i}": "x" for i in range(101)}}
        assert shop.post("/v1/events/survey-answered", json=too_many).status_code == 422
    events = admin_with_program.get("/v1/events", params={"kind": "survey.answered"}).json()["events"]
    assert [e["data"]["answers"] for e in events] == [{"recommend": "10"}]
