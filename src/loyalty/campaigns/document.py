"""Reading a campaign or personal-offer definition (a dict from JSON or YAML) into a `Campaign`.

Like the program document, every problem is collected with its path. The earning part takes the same keys as a
program rule (conditions and one effect), plus `multiplier` ("x2 points on coffee")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.campaigns.model import (
    WEEKDAYS,
    Audience,
    AudienceKind,
    Campaign,
    RedemptionOverride,
    Schedule,
    Stacking,
)
from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.money import parse_decimal
from loyalty.program.kept_sections import SectionContext
from loyalty.program.rule_reader import EFFECTS, MAX_POINTS, RULE_KEYS, Reader, read_conditions, read_effect
from loyalty.program.rules import Effect

# The id is part of the source name its points carry ("campaign:<id>"), which must fit the ledger's source column.
CAMPAIGN_ID = re.compile(limits.id_pattern(limits.CAMPAIGN_ID))
_KEYS = {
    "id",
    "name",
    "description",
    "enabled",
    "starts_at",
    "ends_at",
    "days_of_week",
    "hours",
    "audience",
    "earning",
    "redemption",
    "stacking",
    "priority",
    "budget_points",
    "per_member_cap_points",
}
_EARNING_KEYS = (RULE_KEYS - {"id", "name"}) | {"multiplier"}
_LATEST = datetime(9000, 1, 1).astimezone(ZoneInfo("UTC"))


def parse_campaign(
    document: object,
    *,
    timezone: ZoneInfo,
    exponent: int = 2,
    personal: bool = False,
    revision: int = 1,
    tiers: frozenset[str] | None = None,
) -> Campaign:
    """The campaign (or, with `personal`, the offer) a definition describes; InvalidInput lists every problem.
    Dates without a time are days in the program's time zone: `starts_at` from the start of that day, `ends_at`
    through its end. `tiers`, when given, are the tier ids an audience or condition may name."""
    r = Reader(exponent)
    doc = r.mapping(document, "", _KEYS)
    if not isinstance(document, dict):
        raise InvalidInput(r.problems or [FieldProblem("", "a campaign must be a mapping")])
    campaign_id = doc.get("id")
    if not isinstance(campaign_id, str) or not CAMPAIGN_ID.fullmatch(campaign_id):
        r.fail("id", f"is required: lower-case letters, digits, '_', '-' or '.', up to {limits.CAMPAIGN_ID} characters")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > limits.NAME:
        r.fail("name", f"is required: up to {limits.NAME} characters")
    description = doc.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > limits.CAMPAIGN_DESCRIPTION):
        r.fail("description", f"must be text of up to {limits.CAMPAIGN_DESCRIPTION} characters")
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        r.fail("enabled", "must be true or false")
    schedule = _schedule(r, doc, timezone)
    audience = _audience(r, doc.get("audience", "everyone"), personal, tiers)
    stacking = r.choice(doc.get("stacking", "add"), "stacking", Stacking)
    priority = r.integer(doc.get("priority", 0), "priority", minimum=-1000, maximum=1000)
    budget = doc.get("budget_points")
    if budget is not None:
        budget = r.integer(budget, "budget_points", minimum=0, maximum=10**15)
    cap = doc.get("per_member_cap_points")
    if cap is not None:
        cap = r.integer(cap, "per_member_cap_points", minimum=1, maximum=MAX_POINTS)
    earning = _earning(r, doc.get("earning"), stacking)
    redemption = _redemption(r, doc.get("redemption"))
    if doc.get("earning") is None and doc.get("redemption") is None:
        r.fail("earning", "a campaign needs an `earning` rule, a `redemption` change, or both")
    if earning is not None and tiers is not None:
        for condition in earning[0]:
            named = getattr(condition, "tiers", None)
            if isinstance(named, frozenset) and named - tiers:
                r.fail("earning.tiers", f"unknown tiers {sorted(named - tiers)}; the program has {sorted(tiers)}")
    if r.problems:
        raise InvalidInput(r.problems)
    assert schedule is not None and audience is not None and stacking is not None and priority is not None
    conditions, effect, multiplier, per_order = earning if earning is not None else ((), None, None, None)
    return Campaign(
        str(campaign_id),
        str(name).strip(),
        revision,
        schedule,
        audience,
        personal,
        bool(enabled),
        description,
        stacking,
        priority,
        conditions,
        effect,
        multiplier,
        per_order,
        redemption,
        budget,
        cap,
    )


def _instant(r: Reader, value: object, path: str, timezone: ZoneInfo, *, end: bool) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        day = value + timedelta(days=1) if end else value
        return datetime.combine(day, time(0), timezone)
    elif isinstance(value, str):
        try:
            if len(value) == 10:
                return _instant(r, date.fromisoformat(value), path, timezone, end=end)
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            r.fail(path, f"{value!r} is not an ISO 8601 date (2026-11-01) or date-time with an offset")
            return None
    else:
        r.fail(path, "must be an ISO 8601 date (2026-11-01) or date-time with an offset")
        return None
    if moment.tzinfo is None:
        r.fail(path, "a date-time must carry a time zone offset, such as +03:00 or Z")
        return None
    if not datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")) <= moment < _LATEST:
        r.fail(path, "must be between the years 2000 and 9000")
        return None
    return moment


def _schedule(r: Reader, doc: dict[str, Any], timezone: ZoneInfo) -> Schedule | None:
    before = len(r.problems)
    if doc.get("starts_at") is None:
        r.fail("starts_at", "is required: the date or instant the campaign starts")
        starts = None
    else:
        starts = _instant(r, doc["starts_at"], "starts_at", timezone, end=False)
    ends = _instant(r, doc["ends_at"], "ends_at", timezone, end=True) if doc.get("ends_at") is not None else None
    if starts is not None and ends is not None and ends <= starts:
        r.fail("ends_at", "must be after starts_at")
    days: set[int] = set()
    if doc.get("days_of_week") is not None:
        value = doc["days_of_week"]
        if not isinstance(value, list) or not value:
            r.fail("days_of_week", f"must be a non-empty list of {list(WEEKDAYS)}")
        else:
            for i, day in enumerate(value):
                if isinstance(day, str) and day.lower()[:3] in WEEKDAYS:
                    days.add(WEEKDAYS.index(day.lower()[:3]) + 1)
                elif isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7:
                    days.add(day)
                else:
                    r.fail(f"days_of_week[{i}]", f"must be one of {list(WEEKDAYS)} or 1 (Monday) to 7, got {day!r}")
    hours = None
    if doc.get("hours") is not None:
        spec = r.mapping(doc["hours"], "hours", {"from", "to"})
        start, end = _clock(r, spec.get("from"), "hours.from"), _clock(r, spec.get("to"), "hours.to")
        if start is not None and end is not None:
            if start == end:
                r.fail("hours.to", "must differ from hours.from")
            hours = (start, end)
    if len(r.problems) > before or starts is None:
        return None
    return Schedule(starts, ends, frozenset(days), hours)


def _clock(r: Reader, value: object, path: str) -> time | None:
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}", value):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    if value == "24:00":
        return time(0)
    r.fail(path, f"must be a time of day as HH:MM, got {value!r}")
    return None


def _audience(r: Reader, value: object, personal: bool, tiers: frozenset[str] | None) -> Audience | None:
    allowed = {"segments", "members"} if personal else {"everyone", "segments", "tiers", "members"}
    if value == "everyone" and not personal:
        return Audience()
    spec = r.mapping(value, "audience", allowed)
    if not isinstance(value, dict) or len(spec) != 1:
        what = "a segment or a list of members" if personal else "`everyone`, segments, tiers or a list of members"
        r.fail("audience", f"must name exactly one audience: {what}")
        return None
    ((kind, ids),) = spec.items()
    if kind not in allowed:
        return None
    if kind == "members":
        # Given as a list of member references (resolved and kept by the caller), stored as their count.
        if not (isinstance(ids, list) and ids) and not (isinstance(ids, int) and not isinstance(ids, bool)):
            r.fail("audience.members", "must be a non-empty list of members, each {member_id}, {phone}, ...")
            return None
        return Audience(AudienceKind.MEMBERS)
    names = r.names(ids, f"audience.{kind}")
    if names is None:
        return None
    if kind == "tiers" and tiers is not None and names - tiers:
        r.fail("audience.tiers", f"unknown tiers {sorted(names - tiers)}; the program has {sorted(tiers)}")
        return None
    return Audience(AudienceKind(kind), names)


def _multiplier(r: Reader, value: object) -> Decimal | None:
    """x2 points: more than 1 (x1 adds nothing) and at most 100, with one reason for every value outside."""
    try:
        number = parse_decimal(value, "earning.multiplier")
    except InvalidInput as error:
        r.problems.extend(error.problems)
        return None
    if not 1 < number <= 100:
        r.fail("earning.multiplier", f"must be more than 1 (x1 adds nothing) and at most 100, got {number}")
        return None
    return number


def _earning(
    r: Reader, value: object, stacking: Stacking | None
) -> tuple[tuple[Any, ...], Effect | None, Decimal | None, int | None] | None:
    if value is None:
        return None
    before = len(r.problems)
    spec = r.mapping(value, "earning", _EARNING_KEYS)
    if not isinstance(value, dict):
        return None
    kinds = [key for key in (*EFFECTS, "multiplier") if key in spec]
    effect: Effect | None = None
    multiplier: Decimal | None = None
    if len(kinds) != 1:
        r.fail("earning", f"needs exactly one effect of {[*EFFECTS, 'multiplier']}, got {kinds or 'none'}")
    elif kinds[0] == "multiplier":
        multiplier = _multiplier(r, spec["multiplier"])
        if stacking is Stacking.BEST:
            r.fail("stacking", "a multiplier adds to the program's points, so it cannot compete as `best`")
    else:
        effect = read_effect(r, kinds[0], spec[kinds[0]], f"earning.{kinds[0]}")
    conditions = read_conditions(r, spec, "earning")
    cap = spec.get("max_points_per_order")
    if cap is not None:
        cap = r.integer(cap, "earning.max_points_per_order", minimum=1, maximum=MAX_POINTS)
    if len(r.problems) > before:
        return None
    return conditions, effect, multiplier, cap


def _redemption(r: Reader, value: object) -> RedemptionOverride | None:
    if value is None:
        return None
    spec = r.mapping(value, "redemption", {"max_share_percent", "min_check"})
    if not isinstance(value, dict) or not spec:
        r.fail("redemption", "must change max_share_percent, min_check or both")
        return None
    share = None
    if spec.get("max_share_percent") is not None:
        percent = r.decimal(
            spec["max_share_percent"], "redemption.max_share_percent", minimum=Decimal(0), maximum=Decimal(100)
        )
        share = percent / 100 if percent is not None else None
    min_check = r.money(spec["min_check"], "redemption.min_check") if spec.get("min_check") is not None else None
    return RedemptionOverride(share, min_check)


def check_kept(doc: Mapping[str, Any], context: SectionContext) -> list[FieldProblem]:
    """Campaigns and offers may be kept in the program's file; publishing applies them to the campaign store
    (campaigns/publishing.py). Here they are checked like any definition, in the program's time zone, as a section
    check of the program document."""
    r = Reader(context.exponent)
    for section, personal in (("campaigns", False), ("offers", True)):
        items = doc.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            r.fail(section, "must be a list of definitions")
            continue
        seen: set[object] = set()
        for i, item in enumerate(items):
            try:
                parse_campaign(
                    item, timezone=context.timezone, exponent=r.exponent, personal=personal, tiers=context.tiers
                )
            except InvalidInput as error:
                r.problems.extend(
                    FieldProblem(f"{section}[{i}].{p.path}".rstrip("."), p.reason) for p in error.problems
                )
            ident = item.get("id") if isinstance(item, dict) else None
            if ident in seen:
                r.fail(f"{section}[{i}].id", f"duplicate id {ident!r}")
            seen.add(ident)
    return r.problems
