"""The program document over HTTP: action caps are explicit, the default (once per lifetime) is said out loud, and
`cap: unlimited` means what it says."""

from __future__ import annotations

import httpx

from .conftest import SEED_PROGRAM, Api

CAPS = {
    **SEED_PROGRAM,
    "actions": {
        "registration": {"points": 500},
        "photo": {"points": 10},
        "survey": {"points": 20, "cap": "unlimited"},
        "quiz": {"points": 5, "cap": None},
        "like": {"points": 1, "cap": {"count": None}},
        "review": {"points": 50, "cap": {"count": 2, "per": "month"}},
        "checkin": {"points": 3, "cap": {"per": "day"}},
    },
}


def test_validation_says_each_action_cap_and_when_the_default_applied(admin: httpx.Client) -> None:
    response = admin.post("/v1/program/validate", json={"document": CAPS})
    assert response.status_code == 200, response.text
    assert response.json()["action_caps"] == {
        "checkin": "once per day",
        "like": "unlimited",
        "photo": "once per lifetime (the default when no cap is given)",
        "quiz": "unlimited",
        "registration": "once per lifetime (the default when no cap is given)",
        "review": "at most 2 times per month",
        "survey": "unlimited",
    }
    bad = {**CAPS, "actions": {"survey": {"points": 20, "cap": "often"}}}
    refused = admin.post("/v1/program/validate", json={"document": bad})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"path": "actions.survey.cap", "reason": "must be `unlimited` or a mapping {count, per}"}
    ]


def test_an_action_without_a_cap_earns_once_and_an_unlimited_one_every_time(api: Api) -> None:
    published = api.admin.post(
        "/v1/program/versions", json={"document": CAPS, "effective_from": "2026-02-01T00:00:00+03:00"}
    )
    assert published.status_code == 201, published.text
    member_id = api.register(card="C-1")

    def event(kind: str, event_id: str) -> httpx.Response:
        return api.shop.post(
            "/v1/events", json={"type": kind, "event_id": event_id, "member": {"member_id": member_id}}
        )

    assert event("photo", "p-1").status_code == 201
    second = event("photo", "p-2")
    assert second.status_code == 409
    assert second.json()["type"].endswith("/cap-reached")
    for n in range(3):
        assert event("survey", f"s-{n}").status_code == 201
        assert event("quiz", f"q-{n}").status_code == 201


def test_the_schemas_of_the_program_a_campaign_and_a_segment_are_published_to_admins(api: Api) -> None:
    program = api.admin.get("/v1/program/schema")
    assert program.status_code == 200, program.text
    schema = program.json()
    assert schema["title"] == "Loyalty program document"
    assert schema["properties"]["offers"]["items"] == {"$ref": "#/$defs/CampaignDocument"}
    assert schema["examples"][0]["name"] == "Demo bonus program"
    assert api.admin.get("/v1/program/schema", params={"document": "program"}).json() == schema

    campaign = api.admin.get("/v1/program/schema", params={"document": "campaign"})
    assert campaign.status_code == 200, campaign.text
    assert campaign.json()["title"] == "Loyalty campaign or personal offer"
    assert campaign.json()["required"] == ["id", "name", "starts_at"]

    segment = api.admin.get("/v1/program/schema", params={"document": "segment"})
    assert segment.status_code == 200, segment.text
    assert segment.json()["title"] == "Loyalty segment definition"
    assert segment.json()["required"] == ["segment_id", "name"]

    unknown = api.admin.get("/v1/program/schema", params={"document": "menu"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"path": "document", "reason": "must be one of ['campaign', 'program', 'segment'], got 'menu'"}
    ]
    assert api.shop.get("/v1/program/schema").status_code == 403
