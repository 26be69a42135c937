"""Validating documents a marketer writes (the program, campaign definitions) with Pydantic models, and turning
Pydantic's errors into `FieldProblem`s: a dotted path (``earning.rules[0].percent``) and a reason in plain words.

Field types here carry their own reasons (a percent "must be between 0 and 100, got 150"), raised as
`PydanticCustomError`s of the type `document`; a model's check that concerns several of its fields raises
`problems` (see `refuse`), with paths relative to the model. Every other Pydantic error type is mapped to a
sentence in `_reason`. Money amounts need the currency's exponent: it comes in the validation context
(``model_validate(document, context={"exponent": 2})``)."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, NoReturn

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.money import parse_decimal, parse_money

ID_CHARACTERS = "lower-case letters, digits, '_', '-' or '.'"
Loc = tuple[int | str, ...]


class DocumentModel(BaseModel):
    """A part of a document: unknown keys are refused (a typo is not silently ignored), values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, hide_input_in_errors=True)


def fail(reason: str) -> NoReturn:
    """Refuse the value being validated, with `reason` as the user reads it."""
    raise PydanticCustomError("document", "{reason}", {"reason": reason})


def refuse(problems: Sequence[tuple[Loc, str]]) -> NoReturn:
    """Refuse a model for several reasons at once, each at a path relative to the model (``()`` is the model)."""
    raise PydanticCustomError(
        "problems", "{reason}", {"reason": problems[0][1], "problems": [(tuple(loc), why) for loc, why in problems]}
    )


def refuse_with(error: ValidationError, problems: Sequence[tuple[Loc, str]]) -> NoReturn:
    """Refuse a model whose fields failed (`error`, from a wrap validator's handler) with more problems of its own,
    so that both are reported in one pass."""
    nested = error.errors(include_url=False)
    raise PydanticCustomError(
        "problems",
        "{reason}",
        {"reason": problems[0][1] if problems else "", "problems": list(problems), "errors": nested},
    )


def validate_with(value: Any, handler: Callable[[Any], Any], problems: Sequence[tuple[Loc, str]]) -> Any:
    """For a wrap validator: validate `value` with `handler`, and refuse it with `problems` (checks across fields,
    made on what was given) together with the fields' own, so that every reason is reported in one pass."""
    try:
        model = handler(value)
    except ValidationError as error:
        if problems:
            refuse_with(error, problems)
        raise
    if problems:
        refuse(problems)
    return model


# --- from Pydantic's errors to a marketer's problems --------------------------------------------------------------


def problems_of(error: ValidationError, root: type[BaseModel]) -> list[FieldProblem]:
    """Every problem of `error`, raised validating `root`, with its dotted path and reason."""
    found: list[FieldProblem] = []
    for item in error.errors(include_url=False):
        _collect(item, tuple(item["loc"]), root, found)
    return found


def _collect(item: Any, loc: Loc, root: type[BaseModel], found: list[FieldProblem]) -> None:
    if item["type"] == "problems":
        context = item["ctx"]
        found.extend(FieldProblem(dotted((*loc, *sub)), why) for sub, why in context["problems"])
        for nested in context.get("errors", ()):  # the fields' own errors, relative to the model
            _collect(nested, (*loc, *nested["loc"]), root, found)
        return
    found.append(FieldProblem(dotted(loc), _reason(item, root, loc)))


def dotted(loc: Loc) -> str:
    """``("earning", "rules", 0, "percent")`` → ``earning.rules[0].percent``: the one way every door names a field.
    A mapping's bad key stands for itself, and the steps Pydantic adds for validators and constrained types
    (``function-after``, ``str-...``) are left out."""
    path = ""
    for part in loc:
        if (
            part == "[key]"
            or part in ("function-after", "function-before")
            or str(part).startswith(("str-", "constrained-"))
        ):
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _reason(item: Any, root: type[BaseModel], loc: Loc) -> str:
    kind, context = item["type"], item.get("ctx") or {}
    if kind in ("document", "problems"):
        return str(context["reason"])
    if kind == "missing":
        field = _field_at(root, loc)
        return f"is required: {field.description}" if field is not None and field.description else "is required"
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        known = sorted(f.alias or name for name, f in model.model_fields.items()) if model else []
        return f"unknown field; expected one of {known}" if known else "unknown field"
    simple = _SIMPLE.get(kind)
    if simple is not None:
        return simple
    if kind == "greater_than_equal":
        return f"must be at least {context['ge']}, got {item.get('input')}"
    if kind == "less_than_equal":
        return f"must be at most {context['le']}, got {item.get('input')}"
    if kind in ("enum", "literal_error"):
        return f"must be {context['expected']}, got {item.get('input')!r}"
    if kind == "string_too_long":
        return f"must be text of up to {context['max_length']} characters"
    if kind == "too_short":
        return "must not be empty"
    if kind == "too_long":
        return f"must have at most {context['max_length']} items"
    message = str(item.get("msg", "is not valid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


_SIMPLE = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be text",
}


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation may hold, Annotated and Optional taken off."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) if arg is not type(None) for t in _unwrap(arg)]
    return [annotation]


def _step(annotation: Any, part: int | str) -> tuple[Any, FieldInfo | None] | None:
    for candidate in _unwrap(annotation):
        origin = typing.get_origin(candidate)
        if isinstance(part, int) and origin in (list, tuple):
            return typing.get_args(candidate)[0], None
        if origin is dict and part != "[key]":
            return typing.get_args(candidate)[1], None
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and isinstance(part, str):
            for name, field in candidate.model_fields.items():
                if (field.alias or name) == part:
                    return field.annotation, field
    return None


def _field_at(root: type[BaseModel] | None, loc: Loc) -> FieldInfo | None:
    annotation: Any = root
    field: FieldInfo | None = None
    for part in loc:
        found = _step(annotation, part)
        if found is None:
            return None
        annotation, field = found
    return field


def _model_at(root: type[BaseModel] | None, loc: Loc) -> type[BaseModel] | None:
    annotation: Any = root
    for part in loc:
        found = _step(annotation, part)
        if found is None:
            return None
        annotation = found[0]
    models = [t for t in _unwrap(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
    return models[0] if models else None


# --- field types that give their own reasons ----------------------------------------------------------------------


def within(minimum: int = 0, maximum: int | None = None) -> Any:
    """The metadata of an integer (not a boolean, not a numeric string) within bounds: `Annotated[int, within(1)]`."""
    return Field(strict=True, ge=minimum, le=maximum)


_NUMBER_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 100},
        {"type": "string", "pattern": r"^\s*[0-9 ]*(\.[0-9]+)?\s*$"},
    ],
}


def decimal(minimum: Decimal, maximum: Decimal | None = None) -> Callable[[object], Decimal]:
    def check(value: object) -> Decimal:
        try:
            number = parse_decimal(value, "")
        except InvalidInput as error:
            fail(error.problems[0].reason)
        if number < minimum or (maximum is not None and number > maximum):
            fail(
                f"must be between {minimum} and {maximum}, got {number}"
                if maximum is not None
                else f"must be at least {minimum}, got {number}"
            )
        return number

    return check


Percent = Annotated[
    Decimal,
    PlainValidator(decimal(Decimal(0), Decimal(100))),
    WithJsonSchema(
        {**_NUMBER_SCHEMA, "description": "a percent from 0 to 100, such as 5 or 2.5 (read as written, exactly)"}
    ),
]


def _money(positive: bool) -> Callable[[object, ValidationInfo], int]:
    def check(value: object, info: ValidationInfo) -> int:
        exponent = (info.context or {}).get("exponent", 2)
        try:
            amount = parse_money(value, exponent, "")
        except InvalidInput as error:
            fail(error.problems[0].reason)
        if positive and amount == 0:
            fail("must be greater than zero")
        return amount

    return check


_MONEY_SCHEMA = {
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\s*[0-9 ]*(\.[0-9]+)?\s*$"}],
    "description": 'an amount in the program\'s currency, such as "1000" or "99.90", within its decimals',
}
Money = Annotated[int, PlainValidator(_money(False)), WithJsonSchema(_MONEY_SCHEMA)]
"""An amount of money given in major units, held in minor units of the program's currency."""
PositiveMoney = Annotated[int, PlainValidator(_money(True)), WithJsonSchema({**_MONEY_SCHEMA, "not": {"const": 0}})]


def _names(value: object) -> frozenset[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and 0 < len(v) <= limits.NAME for v in value)
    ):
        fail(f"must be a non-empty list of names of up to {limits.NAME} characters")
    return frozenset(value)


Names = Annotated[
    frozenset[str],
    PlainValidator(_names),
    WithJsonSchema(
        {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1, "maxLength": limits.NAME}}
    ),
]
"""A non-empty list of names (categories, SKUs, channels, stores, tiers)."""


def _display_name(value: object) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)  # YAML reads `name: 2026` as a number
    if isinstance(value, dict | list) or len(text) > limits.NAME:
        fail(f"must be text of up to {limits.NAME} characters")
    return text


DisplayName = Annotated[
    str | None,
    PlainValidator(_display_name),
    WithJsonSchema({"type": ["string", "number", "null"], "maxLength": limits.NAME}),
]
"""An optional name people read (the id stands for it when absent)."""


@dataclass(frozen=True)
class Identifier:
    """The metadata of an id of up to `length` characters in the program's alphabet (`limits.id_pattern`):
    `Annotated[str, Identifier(limits.RULE_ID)]`; `what` names it in the reason."""

    length: int
    what: str = ""

    def check(self, value: object) -> str:
        if not isinstance(value, str) or not re.fullmatch(limits.id_pattern(self.length), value):
            reason = f"must be {ID_CHARACTERS}, starting with a letter or a digit, up to {self.length} characters"
            fail(f"{self.what} {reason}".strip())
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "pattern": limits.id_pattern(self.length)}


def json_schema(model: type[BaseModel], title: str, examples: Sequence[Any] = ()) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the documents `model` validates, for editors: a title, the fields'
    descriptions and `examples`."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": title}
    for name, definition in schema.get("$defs", {}).items():
        # A model's class name ("EarningRuleDoc") is no title for a marketer: "Earning rule".
        words = re.findall(r"[A-Z][a-z]*", name.removesuffix("Doc").removesuffix("Document"))
        definition["title"] = " ".join(words).capitalize() if words else name
    if examples:
        schema["examples"] = list(examples)
    return schema
