"""Reading a segment definition: Pydantic models of the document a marketer writes (`{"segment_id", "name",
"conditions": [{"average_check": {"min": "700", "max": "900"}}, ...]}` or a static list of `members`), converting
each condition to the model's (`segments.model`), with its JSON Schema (`definition_schema`).

Reading a condition needs what only the program knows — its currency's decimals for money bounds, its tiers — so
the models are validated with a context (`Reading`). Every problem comes back at once, each with its dotted path
(`conditions[0].average_check`, `conditions[3].total_spend.min`) and a reason written for the marketer."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.fields import MemberRef, reason
from loyalty.core.money import format_money, parse_money
from loyalty.core.validation import dotted, json_schema
from loyalty.segments.model import (
    CONSENTS,
    GENDERS,
    MAX_AGE,
    MAX_COUNT,
    MAX_DAYS,
    SCORES,
    AgeCondition,
    AttributesCondition,
    AverageCheck,
    BirthdayMonth,
    Bounds,
    CityCondition,
    Condition,
    ConsentCondition,
    DaysSinceLastPurchase,
    GenderCondition,
    PurchaseCount,
    ScoreCondition,
    SegmentDefinition,
    TierCondition,
    TotalSpend,
)

SEGMENT_ID = re.compile(limits.id_pattern(limits.SEGMENT_ID))
MAX_NAME = 200  # a tier, a gender or a city a condition names


@dataclass(frozen=True)
class Reading:
    """What reading conditions needs from the program: its currency's decimals, and its tiers (None: it has
    none). A stored definition is read again without checking tiers: a tier a later version dropped simply
    matches nobody."""

    exponent: int = 2
    known_tiers: frozenset[str] | None = None
    check_tiers: bool = True


class _Problems:
    """Problems of one argument, each at a path below it, raised together (a validator may find several)."""

    def __init__(self, value: object) -> None:
        self.value = value
        self.found: list[InitErrorDetails] = []

    def add(self, reason_: str, *below: str | int) -> None:
        self.found.append(InitErrorDetails(type=PydanticCustomError("segment", reason_), loc=below, input=self.value))

    def raise_any(self) -> None:
        if self.found:
            raise ValidationError.from_exception_data("segment condition", self.found)


def _reading(info: ValidationInfo) -> Reading:
    reading = (info.context or {}).get("reading")
    return reading if isinstance(reading, Reading) else Reading()


def _integer(problems: _Problems, value: object, low: int, high: int, *below: str | int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add("must be an integer", *below)
        return None
    if not low <= value <= high:
        problems.add(f"must be between {low} and {high}, got {value}", *below)
        return None
    return value


def _bounds(value: object, read: Callable[[_Problems, object, str], int | None], show: Callable[[int], str]) -> Bounds:
    problems = _Problems(value)
    if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
        raise PydanticCustomError("segment", "must be a mapping with min, max or both")
    low = read(problems, value["min"], "min") if value.get("min") is not None else None
    high = read(problems, value["max"], "max") if value.get("max") is not None else None
    problems.raise_any()
    if low is None and high is None:
        raise PydanticCustomError("segment", "must give min, max or both")
    if low is not None and high is not None and low > high:
        raise PydanticCustomError("segment", f"min {show(low)} is greater than max {show(high)}")
    return Bounds(low, high)


def _counted(low: int, high: int) -> Callable[[object], Bounds]:
    def read(value: object) -> Bounds:
        return _bounds(value, lambda problems, v, key: _integer(problems, v, low, high, key), str)

    return read


def _amounts(value: object, info: ValidationInfo) -> Bounds:
    exponent = _reading(info).exponent

    def money(problems: _Problems, v: object, key: str) -> int | None:
        try:
            return parse_money(v, exponent, key)
        except InvalidInput as error:
            problems.add(error.problems[0].reason, key)
            return None

    return _bounds(value, money, lambda minor: format_money(minor, exponent))


def _names(value: object, allowed: tuple[str, ...] | None = None) -> frozenset[str]:
    items = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v.strip()]
    if not items or (isinstance(value, list) and len(items) != len(value)) or any(len(v) > MAX_NAME for v in items):
        raise PydanticCustomError(
            "segment", f"must be a name or a non-empty list of names (up to {MAX_NAME} characters each)"
        )
    problems = _Problems(value)
    for name in items:
        if allowed is not None and name not in allowed:
            problems.add(f"unknown value {name!r}; expected one of {list(allowed)}")
    problems.raise_any()
    return frozenset(items)


def _tier(value: object, info: ValidationInfo) -> TierCondition:
    tiers, reading = _names(value), _reading(info)
    if not reading.check_tiers:
        return TierCondition(tiers)
    if reading.known_tiers is None:
        raise PydanticCustomError("segment", "the published program has no tiers")
    problems = _Problems(value)
    for tier_id in sorted(tiers - reading.known_tiers):
        problems.add(f"unknown tier {tier_id!r}; the program's tiers are {sorted(reading.known_tiers)}")
    problems.raise_any()
    return TierCondition(tiers)


def _months(value: object) -> BirthdayMonth:
    if value == []:
        raise PydanticCustomError("segment", "must be a month 1..12 or a non-empty list of months")
    problems = _Problems(value)
    if isinstance(value, list):
        months = [_integer(problems, v, 1, 12, i) for i, v in enumerate(value)]
    else:
        months = [_integer(problems, value, 1, 12)]
    problems.raise_any()
    return BirthdayMonth(frozenset(m for m in months if m))


def _consent(value: object) -> ConsentCondition:
    if not isinstance(value, dict) or not value:
        raise PydanticCustomError(
            "segment", 'must map consents to true (granted) or false (not granted), such as {"email": true}'
        )
    problems = _Problems(value)
    for kind, granted in value.items():
        if kind not in CONSENTS:
            problems.add(f"unknown consent; expected one of {list(CONSENTS)}", kind)
        elif not isinstance(granted, bool):
            problems.add("must be true or false", kind)
    problems.raise_any()
    return ConsentCondition(tuple(sorted(value.items())))


def _attributes(value: object) -> AttributesCondition:
    if not isinstance(value, dict) or not value:
        raise PydanticCustomError(
            "segment", 'must map attribute names to the values they must equal, such as {"vip": true}'
        )
    problems = _Problems(value)
    for key, expected in value.items():
        if not isinstance(key, str) or not key or len(key) > 100:
            problems.add(f"attribute name {key!r} must be 1 to 100 characters")
        elif expected is not None and (isinstance(expected, float) or not isinstance(expected, str | int | bool)):
            problems.add("must be a string, an integer, true, false or null", key)
    problems.raise_any()
    return AttributesCondition(tuple(sorted(value.items())))


def _range(minimum: int, maximum: int, what: str) -> dict[str, Any]:
    bound = {"type": "integer", "minimum": minimum, "maximum": maximum}
    return _with_bounds(bound, what)


def _with_bounds(bound: dict[str, Any], what: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"{what}: min, max or both, inclusive",
        "properties": {"min": bound, "max": bound},
        "additionalProperties": False,
        "minProperties": 1,
    }


_MONEY = {  # what parse_money reads: a decimal string (the README's form) or a whole number
    "anyOf": [{"type": "string", "pattern": r"^\s*\d[\d \u00a0]*(\.\d+)?\s*$"}, {"type": "integer", "minimum": 0}],
    "description": "An amount in the program's currency: a decimal string such as 700.50",
}
_NAMES = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
        {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": MAX_NAME}, "minItems": 1},
    ]
}
_MONTH = {"type": "integer", "minimum": 1, "maximum": 12}


def _score(name: str) -> Callable[[object], ScoreCondition]:
    def read(value: object) -> ScoreCondition:
        return ScoreCondition(name, _counted(1, SCORES)(value))

    return read


def _bounded(kind: Callable[[Bounds], Condition], low: int, high: int) -> Callable[[object], Condition]:
    def read(value: object) -> Condition:
        return kind(_counted(low, high)(value))

    return read


def _spent(kind: Callable[[Bounds], Condition]) -> Callable[[object, ValidationInfo], Condition]:
    def read(value: object, info: ValidationInfo) -> Condition:
        return kind(_amounts(value, info))

    return read


def _gender(value: object) -> GenderCondition:
    return GenderCondition(_names(value, GENDERS))


def _city(value: object) -> CityCondition:
    return CityCondition(frozenset(c.strip().casefold() for c in _names(value)))


# Each argument is read by a function of this module (PlainValidator: it reads null too, which no condition takes)
# and documented by its JSON Schema.
Recency = Annotated[
    ScoreCondition | None, PlainValidator(_score("recency")), WithJsonSchema(_range(1, SCORES, "RFM quintile"))
]
Frequency = Annotated[
    ScoreCondition | None, PlainValidator(_score("frequency")), WithJsonSchema(_range(1, SCORES, "RFM quintile"))
]
Monetary = Annotated[
    ScoreCondition | None, PlainValidator(_score("monetary")), WithJsonSchema(_range(1, SCORES, "RFM quintile"))
]
Days = Annotated[
    DaysSinceLastPurchase | None,
    PlainValidator(_bounded(DaysSinceLastPurchase, 0, MAX_DAYS)),
    WithJsonSchema(_range(0, MAX_DAYS, "Calendar days")),
]
Purchases = Annotated[
    PurchaseCount | None,
    PlainValidator(_bounded(PurchaseCount, 0, MAX_COUNT)),
    WithJsonSchema(_range(0, MAX_COUNT, "Purchases")),
]
Spend = Annotated[TotalSpend | None, PlainValidator(_spent(TotalSpend)), WithJsonSchema(_with_bounds(_MONEY, "Spend"))]
Check = Annotated[
    AverageCheck | None,
    PlainValidator(_spent(AverageCheck)),
    WithJsonSchema(_with_bounds(_MONEY, "Spend per purchase")),
]
Tiers = Annotated[TierCondition | None, PlainValidator(_tier), WithJsonSchema(_NAMES)]
Genders = Annotated[
    GenderCondition | None,
    PlainValidator(_gender),
    WithJsonSchema(
        {"anyOf": [{"enum": list(GENDERS)}, {"type": "array", "items": {"enum": list(GENDERS)}, "minItems": 1}]}
    ),
]
Age = Annotated[
    AgeCondition | None, PlainValidator(_bounded(AgeCondition, 0, MAX_AGE)), WithJsonSchema(_range(0, MAX_AGE, "Years"))
]
Cities = Annotated[CityCondition | None, PlainValidator(_city), WithJsonSchema(_NAMES)]
Months = Annotated[
    BirthdayMonth | None,
    PlainValidator(_months),
    WithJsonSchema({"anyOf": [_MONTH, {"type": "array", "items": _MONTH, "minItems": 1}]}),
]
Consents = Annotated[
    ConsentCondition | None,
    PlainValidator(_consent),
    WithJsonSchema(
        {
            "type": "object",
            "properties": {kind: {"type": "boolean"} for kind in CONSENTS},
            "additionalProperties": False,
            "minProperties": 1,
        }
    ),
]
Attributes = Annotated[
    AttributesCondition | None,
    PlainValidator(_attributes),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {"type": ["string", "integer", "boolean", "null"]},
            "minProperties": 1,
        }
    ),
]


class ConditionDocument(BaseModel):
    """One condition: a mapping of exactly one condition name to its argument (see the README)."""

    recency_score: Recency = None
    frequency_score: Frequency = None
    monetary_score: Monetary = None
    days_since_last_purchase: Days = None
    purchase_count: Purchases = None
    total_spend: Spend = None
    average_check: Check = None
    tier: Tiers = None
    gender: Genders = None
    age: Age = None
    city: Cities = None
    birthday_month: Months = None
    consent: Consents = None
    attributes: Attributes = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1, "maxProperties": 1})

    @model_validator(mode="before")
    @classmethod
    def _one_condition(cls, value: Any) -> Any:
        if not isinstance(value, dict) or len(value) != 1:
            raise PydanticCustomError(
                "segment", 'must be a mapping of exactly one condition to its argument, such as {"tier": ["gold"]}'
            )
        return value

    def condition(self) -> Condition:
        """The one condition given (the model allows exactly one)."""
        condition: Condition = next(value for value in self.__dict__.values() if value is not None)
        return condition


CONDITIONS = tuple(ConditionDocument.model_fields)
_CONDITION_LIST = TypeAdapter(list[ConditionDocument])


class SegmentDocument(BaseModel):
    """A segment as written: a rule segment's conditions, all of which must hold, or a static segment's members."""

    segment_id: Annotated[str, Field(pattern=limits.id_pattern(limits.SEGMENT_ID))]
    name: Annotated[str, Field(min_length=1, max_length=limits.NAME)]
    kind: Literal["rule", "static"] = "rule"
    conditions: list[ConditionDocument] | None = Field(None, min_length=1, max_length=100)
    members: list[MemberRef] | None = Field(None, max_length=100_000)

    model_config = ConfigDict(extra="forbid", title="Segment")


_EXAMPLE = {
    "segment_id": "check-700-900",
    "name": "Average check 700-900 RUB, bought in the last 90 days",
    "conditions": [{"average_check": {"min": "700", "max": "900"}}, {"days_since_last_purchase": {"max": 90}}],
}


def definition_schema() -> dict[str, Any]:
    """The JSON Schema of a segment definition (the README's "Segments"), for editors and the console."""
    return json_schema(SegmentDocument, "Loyalty segment definition", [_EXAMPLE])


def read_conditions(value: object, reading: Reading = Reading(), *, path: str = "conditions") -> SegmentDefinition:
    """The definition a list of conditions describes, each a mapping of one condition name to its argument
    (`[{"average_check": {"min": "700", "max": "900"}}, {"tier": ["gold"]}]`). Raises InvalidInput naming every
    bad field."""
    if not isinstance(value, list) or not value:
        raise InvalidInput.at(path, f"must be a non-empty list of conditions, each one of {list(CONDITIONS)}")
    try:
        items = _CONDITION_LIST.validate_python(value, context={"reading": reading})
    except ValidationError as error:
        raise InvalidInput([_problem(path, found) for found in error.errors()]) from None
    return SegmentDefinition(tuple(item.condition() for item in items))


def _problem(path: str, error: Any) -> FieldProblem:
    where = path + dotted(tuple(error["loc"]))
    if error["type"] == "extra_forbidden":
        return FieldProblem(where, f"unknown condition; expected one of {list(CONDITIONS)}")
    return FieldProblem(where, reason(error))


def check_segment(segment_id: object, name: object) -> tuple[str, str]:
    """A segment's id (lower-case letters, digits, '_', '-', '.') and its name, or InvalidInput naming both."""
    problems = []
    if not isinstance(segment_id, str) or not SEGMENT_ID.fullmatch(segment_id):
        problems.append(
            FieldProblem(
                "segment_id",
                f"is required: lower-case letters, digits, '_', '-' or '.', up to {limits.SEGMENT_ID} characters",
            )
        )
    if not isinstance(name, str) or not name.strip() or len(name) > limits.NAME:
        problems.append(FieldProblem("name", f"is required: up to {limits.NAME} characters"))
    if problems:
        raise InvalidInput(problems)
    assert isinstance(segment_id, str) and isinstance(name, str)
    return segment_id, name.strip()
