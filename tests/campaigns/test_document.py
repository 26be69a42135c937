"""Whatever a marketer writes in a campaign definition, the answer is a Campaign or a list of problems, each with a
path and a reason in plain words: never a crash, never the validating library's own wording."""

from __future__ import annotations

import copy
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.campaigns.document import parse_campaign
from loyalty.campaigns.model import Campaign
from loyalty.core.errors import InvalidInput

DEFINITION: dict[str, Any] = {
    "id": "coffee",
    "name": "x2 on coffee",
    "starts_at": "2026-11-01",
    "ends_at": "2026-11-30",
    "days_of_week": ["mon", 2],
    "hours": {"from": "07:00", "to": "11:00"},
    "audience": {"tiers": ["gold"]},
    "earning": {"categories": ["coffee"], "multiplier": 2, "birthday": {"days_before": 3}},
    "redemption": {"max_share_percent": 50, "min_check": "100"},
    "stacking": "add",
    "priority": 1,
    "budget_points": 1000,
    "per_member_cap_points": 20,
}

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=True)
    | st.sampled_from(["", "everyone", "best", "2026-11-01", "2026-11-01T10:00:00", "25:00", "mon", "gold", "1e9999"])
    | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    definition = copy.deepcopy(DEFINITION)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(st.sampled_from(sorted(DEFINITION)))
        section = definition.get(key)
        if isinstance(section, dict) and section and draw(st.booleans()):
            section[draw(st.sampled_from(sorted(section)))] = draw(values)
        elif draw(st.booleans()):
            definition.pop(key, None)
        else:
            definition[key] = draw(values)
    return definition


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_any_definition_gives_a_campaign_or_problems_in_plain_words(definition: dict[str, Any], personal: bool) -> None:
    try:
        campaign: Campaign | None = parse_campaign(
            definition, timezone=ZoneInfo("Europe/Moscow"), personal=personal, tiers=frozenset({"gold"})
        )
        problems = []
    except InvalidInput as error:
        campaign, problems = None, error.problems
    if campaign is None:
        assert problems
        assert all(p.reason and "Input should" not in p.reason and "Value error" not in p.reason for p in problems)
    else:
        assert campaign.schedule.ends_at is None or campaign.schedule.ends_at > campaign.schedule.starts_at
