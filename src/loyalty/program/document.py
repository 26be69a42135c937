"""Reading a program document (the dict of a YAML or JSON file) into a `Program`.

Every problem is collected with the dotted path of the field and the reason, so a marketer fixes the whole
document in one pass. The format is documented in README.md ("The program document").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.money import Rounding, currency_exponent
from loyalty.program.model import (
    ActionBonus,
    CapPeriod,
    EarningPolicy,
    ExpiryKind,
    ExpiryPolicy,
    ExpiryStart,
    Program,
    RedemptionPolicy,
    ReferralPolicy,
    Shortfall,
    WinBackPolicy,
)
from loyalty.program.rule_document import (
    EFFECTS,
    MAX_POINTS,
    RULE_KEYS,
    Reader,
    read_conditions,
    read_effect,
)
from loyalty.program.rules import (
    EarningRule,
    Effect,
    TierCondition,
)
from loyalty.program.tiers import TierBasis, TierLevel, TierPeriod, TierPolicy

# A rule's id is the source its points carry in the ledger; a tier's and an action's are stored behind a prefix.
_RULE_ID = re.compile(limits.id_pattern(limits.RULE_ID))
_TIER_ID = re.compile(limits.id_pattern(limits.TIER_ID))
_ACTION_NAME = re.compile(limits.id_pattern(limits.ACTION_NAME))
_ID_CHARACTERS = "lower-case letters, digits, '_', '-' or '.'"


SectionCheck = Callable[[Reader, dict[str, Any], ZoneInfo, TierPolicy | None], None]
"""A check of sections another area keeps in the program's file (the campaigns and offers), run with the program's
time zone and tiers so that every problem of the file is reported at once; the program itself knows none of them."""


def parse_program(document: object, *, sections: Sequence[SectionCheck] = ()) -> Program:
    """The `Program` a document describes; raises InvalidInput listing every problem found, those of `sections`
    included."""
    r = Reader()
    doc = r.mapping(
        document,
        "",
        {
            "name",
            "currency",
            "point_value",
            "timezone",
            "earning",
            "redemption",
            "expiry",
            "actions",
            "returns",
            "tiers",
            "referrals",
            "win_back",
            "campaigns",
            "offers",
        },
    )
    if not isinstance(document, dict):
        raise InvalidInput(r.problems or [FieldProblem("", "the program document must be a mapping")])
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > limits.NAME:
        r.fail("name", f"is required: the program's name, up to {limits.NAME} characters")
    currency = doc.get("currency", "RUB")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        r.fail("currency", "must be a three-letter ISO 4217 code such as RUB")
        currency = "RUB"
    r.exponent = currency_exponent(currency)
    point_value = r.money(doc.get("point_value", "1"), "point_value", positive=True)
    timezone = _timezone(r, doc.get("timezone", "UTC"))
    earning = _earning(r, doc.get("earning"))
    redemption = _redemption(r, doc.get("redemption"))
    expiry = _expiry(r, doc.get("expiry", "never"))
    actions = _actions(r, doc.get("actions"))
    returns = r.mapping(doc.get("returns"), "returns", {"shortfall"})
    shortfall = r.choice(returns.get("shortfall", "negative_balance"), "returns.shortfall", Shortfall)
    tiers = _tiers(r, doc["tiers"]) if doc.get("tiers") is not None else None
    _check_tier_references(r, earning, tiers)
    referrals = _referrals(r, doc["referrals"], earning) if doc.get("referrals") is not None else None
    win_back = _win_back(r, doc["win_back"]) if doc.get("win_back") is not None else None
    if timezone is not None:
        for check in sections:
            check(r, doc, timezone, tiers)
    if r.problems:
        raise InvalidInput(r.problems)
    assert point_value is not None and timezone is not None and earning is not None
    assert redemption is not None and expiry is not None
    return Program(
        str(name).strip(),
        currency,
        r.exponent,
        point_value,
        timezone,
        earning,
        redemption,
        expiry,
        actions,
        shortfall,
        tiers,
        referrals=referrals,
        win_back=win_back,
    )


def _timezone(r: Reader, value: object) -> ZoneInfo | None:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory of zones, not a zone
        r.fail("timezone", f"{value!r} is not an IANA time zone such as Europe/Moscow")
        return None


def _earning(r: Reader, value: object) -> EarningPolicy | None:
    section = r.mapping(value, "earning", {"rules", "excluded_categories", "rounding", "pending_days", "members_only"})
    rules_doc = section.get("rules", [])
    if not isinstance(rules_doc, list):
        r.fail("earning.rules", "must be a list of rules")
        rules_doc = []
    rules = [_rule(r, rule, f"earning.rules[{i}]") for i, rule in enumerate(rules_doc)]
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule is not None and rule.id in seen:
            r.fail(f"earning.rules[{i}].id", f"duplicate rule id {rule.id!r}")
        if rule is not None:
            seen.add(rule.id)
    excluded = section.get("excluded_categories")
    excluded_set = r.names(excluded, "earning.excluded_categories") if excluded is not None else frozenset()
    rounding = r.choice(section.get("rounding", "down"), "earning.rounding", Rounding)
    pending = r.integer(section.get("pending_days", 0), "earning.pending_days", maximum=3650)
    members_only = section.get("members_only", True)
    if not isinstance(members_only, bool):
        r.fail("earning.members_only", "must be true or false")
    if any(rule is None for rule in rules) or excluded_set is None or rounding is None or pending is None:
        return None
    return EarningPolicy(
        tuple(rule for rule in rules if rule is not None), excluded_set, rounding, pending, bool(members_only)
    )


def _rule(r: Reader, value: object, path: str) -> EarningRule | None:
    before = len(r.problems)
    if value is None:  # an empty list item ("- " in YAML) is not a rule
        r.fail(path, "must be a rule: a mapping with an id and one effect")
        return None
    rule = r.mapping(value, path, RULE_KEYS)
    if not isinstance(value, dict):
        return None
    rule_id = rule.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        r.fail(f"{path}.id", f"is required: {_ID_CHARACTERS}, up to {limits.RULE_ID} characters")
    name = r.name(rule.get("name"), f"{path}.name", str(rule_id))
    effects = [key for key in EFFECTS if key in rule]
    effect: Effect | None = None
    if len(effects) != 1:
        r.fail(path, f"needs exactly one effect of {list(EFFECTS)}, got {effects or 'none'}")
    else:
        effect = read_effect(r, effects[0], rule[effects[0]], f"{path}.{effects[0]}")
    conditions = read_conditions(r, rule, path)
    cap = rule.get("max_points_per_order")
    if cap is not None:
        cap = r.integer(cap, f"{path}.max_points_per_order", minimum=1)
    if len(r.problems) > before or effect is None:
        return None
    return EarningRule(str(rule_id), name, effect, conditions, cap)


def _redemption(r: Reader, value: object) -> RedemptionPolicy | None:
    section = r.mapping(value, "redemption", {"min_check", "max_share_percent", "excluded_categories", "earn_or_spend"})
    min_check = r.money(section.get("min_check", "0"), "redemption.min_check")
    share = r.decimal(
        section.get("max_share_percent", 100),
        "redemption.max_share_percent",
        minimum=Decimal(0),
        maximum=Decimal(100),
    )
    excluded = section.get("excluded_categories")
    excluded_set = r.names(excluded, "redemption.excluded_categories") if excluded is not None else frozenset()
    earn_or_spend = section.get("earn_or_spend", False)
    if not isinstance(earn_or_spend, bool):
        r.fail("redemption.earn_or_spend", "must be true or false")
    if min_check is None or share is None or excluded_set is None:
        return None
    return RedemptionPolicy(min_check, share / 100, excluded_set, bool(earn_or_spend))


def _expiry(r: Reader, value: object) -> ExpiryPolicy | None:
    if value == "never" or value is None:
        return ExpiryPolicy()
    section = r.mapping(value, "expiry", {"after_days", "on_date", "every_year_on", "starts"})
    kinds = [k for k in ("after_days", "on_date", "every_year_on") if k in section]
    if len(kinds) != 1:
        r.fail("expiry", "must be 'never' or a mapping with exactly one of after_days, on_date, every_year_on")
        return None
    starts = r.choice(section.get("starts", "accrual"), "expiry.starts", ExpiryStart)
    kind = kinds[0]
    if kind == "after_days":
        days = r.integer(section[kind], "expiry.after_days", minimum=1, maximum=36500)
        return ExpiryPolicy(ExpiryKind.AFTER_DAYS, days=days, starts=starts) if days and starts else None
    text = str(section[kind])
    if kind == "on_date":
        try:
            return ExpiryPolicy(
                ExpiryKind.FIXED_DATE, on_date=_bounded_date(text), starts=starts or ExpiryStart.ACCRUAL
            )
        except ValueError:
            r.fail("expiry.on_date", f"{text!r} is not a date YYYY-MM-DD")
            return None
    match = re.fullmatch(r"(\d{2})-(\d{2})", text)
    if not match:
        r.fail("expiry.every_year_on", f"{text!r} is not a month and day MM-DD, such as 11-30")
        return None
    month, day = int(match[1]), int(match[2])
    try:
        date(2000, month, day)  # a leap year, so 02-29 is accepted
    except ValueError:
        r.fail("expiry.every_year_on", f"{text!r} is not a real month and day")
        return None
    return ExpiryPolicy(ExpiryKind.FIXED_DATE, month=month, day=day, starts=starts or ExpiryStart.ACCRUAL)


def _bounded_date(text: str) -> date:
    """A date between 1900 and 2999 (ValueError otherwise): beyond, instants overflow the databases."""
    value = date.fromisoformat(text)
    if not 1900 <= value.year <= 2999:
        raise ValueError(text)
    return value


def _actions(r: Reader, value: object) -> dict[str, ActionBonus]:
    section = value if isinstance(value, dict) else {}
    if value is not None and not isinstance(value, dict):
        r.fail("actions", "must be a mapping of action type to its bonus")
    actions: dict[str, ActionBonus] = {}
    for action, spec in section.items():
        path = f"actions.{action}"
        if not isinstance(action, str) or not _ACTION_NAME.fullmatch(action):
            # The ledger records its points as from `action.<type>`, which must fit the source column.
            r.fail(path, f"action type must be {_ID_CHARACTERS}, up to {limits.ACTION_NAME} characters")
            continue
        item = r.mapping(spec, path, {"points", "cap", "pending_days"})
        points = r.integer(item.get("points"), f"{path}.points", minimum=1, maximum=MAX_POINTS)
        count, period = _cap(r, item.get("cap", DEFAULT_CAP), f"{path}.cap")
        pending = r.integer(item.get("pending_days", 0), f"{path}.pending_days", maximum=3650)
        if points is not None and period is not None and pending is not None:
            actions[action] = ActionBonus(action, points, count, period, pending, cap_given="cap" in item)
    return actions


DEFAULT_CAP = {"count": 1, "per": "lifetime"}  # an action without a cap earns once per member


def _cap(r: Reader, value: object, path: str) -> tuple[int | None, CapPeriod | None]:
    """`cap: unlimited` (or null, or `{count: null}`) is no cap; `{count, per}` at most `count` per `per` (count
    defaults to 1, per to lifetime)."""
    if value is None or value == "unlimited":
        return None, CapPeriod.LIFETIME
    if not isinstance(value, dict):
        r.fail(path, "must be `unlimited` or a mapping {count, per}")
        return None, None
    cap = r.mapping(value, path, {"count", "per"})
    count = (
        None if "count" in cap and cap["count"] is None else r.integer(cap.get("count", 1), f"{path}.count", minimum=1)
    )
    return count, r.choice(cap.get("per", "lifetime"), f"{path}.per", CapPeriod)


def _referrals(r: Reader, value: object, earning: EarningPolicy | None) -> ReferralPolicy | None:
    """`referrals: {new_member_points, referrer_points, return_window_days, max_per_referrer,
    max_per_referrer_per_month, attach_within_days, pending_days}`. The return window defaults to the earning's
    pending days (the time a purchase's points wait for returns); a scheme must give someone something."""
    before = len(r.problems)
    keys = {
        "new_member_points",
        "referrer_points",
        "return_window_days",
        "max_per_referrer",
        "max_per_referrer_per_month",
        "attach_within_days",
        "pending_days",
    }
    section = r.mapping(value, "referrals", keys)
    if not isinstance(value, dict):
        return None
    new_member = r.integer(section.get("new_member_points", 0), "referrals.new_member_points", maximum=MAX_POINTS)
    referrer = r.integer(section.get("referrer_points", 0), "referrals.referrer_points", maximum=MAX_POINTS)
    if new_member == 0 and referrer == 0:
        r.fail("referrals", "gives no points: set new_member_points, referrer_points or both")
    window = r.integer(
        section.get("return_window_days", earning.pending_days if earning else 0),
        "referrals.return_window_days",
        maximum=3650,
    )
    caps = {}
    for name in ("max_per_referrer", "max_per_referrer_per_month"):
        given = section.get(name)
        caps[name] = None if given is None else r.integer(given, f"referrals.{name}", minimum=1, maximum=10**6)
    lifetime, monthly = caps["max_per_referrer"], caps["max_per_referrer_per_month"]
    if lifetime is not None and monthly is not None and monthly > lifetime:
        r.fail("referrals.max_per_referrer_per_month", f"must not exceed max_per_referrer ({lifetime})")
    attach = r.integer(section.get("attach_within_days", 30), "referrals.attach_within_days", maximum=3650)
    pending = r.integer(section.get("pending_days", 0), "referrals.pending_days", maximum=3650)
    if len(r.problems) > before:
        return None
    assert new_member is not None and referrer is not None and window is not None
    assert attach is not None and pending is not None
    return ReferralPolicy(new_member, referrer, window, lifetime, monthly, attach, pending)


def _win_back(r: Reader, value: object) -> WinBackPolicy | None:
    """`win_back: {inactive_days, points, expires_after_days, max_share_percent, repeat_after_days}`: the first
    three are required; the share (default 50) is of an order's eligible amount, with at most two decimals."""
    before = len(r.problems)
    keys = {"inactive_days", "points", "expires_after_days", "max_share_percent", "repeat_after_days"}
    section = r.mapping(value, "win_back", keys)
    if not isinstance(value, dict):
        return None
    required = {
        "inactive_days": "the days without an order after which a member gets the grant",
        "points": "the points of the grant",
        "expires_after_days": "the days after the grant when its points burn",
    }
    given: dict[str, int | None] = {}
    for key, what in required.items():
        if section.get(key) is None:
            r.fail(f"win_back.{key}", f"is required: {what}")
            given[key] = None
        else:
            most = MAX_POINTS if key == "points" else 36500
            given[key] = r.integer(section[key], f"win_back.{key}", minimum=1, maximum=most)
    inactive, points, expires = given["inactive_days"], given["points"], given["expires_after_days"]
    percent = r.decimal(
        section.get("max_share_percent", 50), "win_back.max_share_percent", minimum=Decimal(0), maximum=Decimal(100)
    )
    if percent == 0:
        r.fail("win_back.max_share_percent", "must be above 0: points that can pay nothing are no gift")
    elif percent is not None and percent != percent.quantize(Decimal("0.01")):
        r.fail("win_back.max_share_percent", f"must have at most two decimals, got {percent}")
    repeat = section.get("repeat_after_days")
    if repeat is not None:
        repeat = r.integer(repeat, "win_back.repeat_after_days", minimum=1, maximum=36500)
    if len(r.problems) > before:
        return None
    assert inactive is not None and points is not None and expires is not None and percent is not None
    return WinBackPolicy(inactive, points, expires, percent / 100, repeat)


def _tiers(r: Reader, value: object) -> TierPolicy | None:
    """`tiers: {qualify_by, period, rolling_days, grace_days, levels: [{id, name, from, multiplier, privileges}]}`;
    the first level starts at 0 and the thresholds strictly increase, so no two levels overlap."""
    before = len(r.problems)
    section = r.mapping(value, "tiers", {"qualify_by", "period", "rolling_days", "grace_days", "levels"})
    basis = r.choice(section.get("qualify_by", "spend"), "tiers.qualify_by", TierBasis)
    period = r.choice(section.get("period", "lifetime"), "tiers.period", TierPeriod)
    rolling = r.integer(section.get("rolling_days", 365), "tiers.rolling_days", minimum=1, maximum=3650)
    grace = r.integer(section.get("grace_days", 0), "tiers.grace_days", maximum=3650)
    raw_levels = section.get("levels")
    if not isinstance(raw_levels, list) or not raw_levels:
        r.fail("tiers.levels", "must be a non-empty list of levels")
        return None
    levels: list[TierLevel] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_levels):
        path = f"tiers.levels[{i}]"
        level = r.mapping(raw, path, {"id", "name", "from", "multiplier", "privileges"})
        tier_id = level.get("id")
        if not isinstance(tier_id, str) or not _TIER_ID.fullmatch(tier_id):
            # The ledger records a multiplier's points as from `tier:<id>`, which must fit the source column.
            r.fail(f"{path}.id", f"is required: {_ID_CHARACTERS}, up to {limits.TIER_ID} characters")
            continue
        if tier_id in seen:
            r.fail(f"{path}.id", f"duplicate tier id {tier_id!r}")
        seen.add(tier_id)
        if basis is TierBasis.ORDERS:
            threshold = r.integer(level.get("from", 0), f"{path}.from", maximum=10**9)
        else:
            threshold = r.money(level.get("from", "0"), f"{path}.from")
        multiplier = r.decimal(
            level.get("multiplier", 1), f"{path}.multiplier", minimum=Decimal(1), maximum=Decimal(100)
        )
        name = r.name(level.get("name"), f"{path}.name", tier_id)
        privileges = level.get("privileges", [])
        if not isinstance(privileges, list) or not all(
            isinstance(p, str) and 0 < len(p) <= limits.NAME for p in privileges
        ):
            r.fail(f"{path}.privileges", f"must be a list of names of up to {limits.NAME} characters")
            privileges = []
        if threshold is None or multiplier is None:
            continue
        if i == 0 and threshold != 0:
            r.fail(f"{path}.from", "the first level must start at 0: it is every member's level")
        if levels and threshold <= levels[-1].threshold:
            r.fail(f"{path}.from", f"must be above the previous level's {levels[-1].threshold}: levels may not overlap")
        levels.append(TierLevel(tier_id, name, threshold, multiplier, tuple(privileges)))
    if len(r.problems) > before or basis is None or period is None or rolling is None or grace is None:
        return None
    return TierPolicy(tuple(levels), basis, period, rolling, grace)


def _check_tier_references(r: Reader, earning: EarningPolicy | None, tiers: TierPolicy | None) -> None:
    known = {level.id for level in tiers.levels} if tiers else set()
    for i, rule in enumerate(earning.rules if earning else ()):
        for condition in rule.conditions:
            if isinstance(condition, TierCondition):
                for tier_id in sorted(condition.tiers - known):
                    r.fail(
                        f"earning.rules[{i}].tiers",
                        f"unknown tier {tier_id!r}; the program's tiers are {sorted(known)}",
                    )
