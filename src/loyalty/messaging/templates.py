"""Message templates: what a message says in each language, rendered for one member.

A `Template` holds a `Wording` per language (`ru`, `en`): the plain `text` (an SMS, or an email's plain-text part),
and for an email its `subject` and `html` body. Each part is Jinja2 source, rendered in Jinja's immutable sandbox:

- a variable the template names but the member's data lacks is an error (`StrictUndefined`), not an empty string;
- the sandbox refuses Python's internals (``{{ ''.__class__ }}``), so a template cannot reach the server; it refuses
  calls that change data (``{{ offer.update(...) }}``), ranges over 100,000 items, and here also the two plainest
  ways to build a huge value (``'x' * n``, ``n ** m``). It does not bound every way of spending time or memory
  (nested loops, filters such as ``center``): templates are written by operators the API trusts with them;
- the HTML body is autoescaped (a member named ``<b>`` is shown, not obeyed); subject and text are not, being plain
  text; a subject is one line, its line breaks become spaces;
- a value that is `None` is shown as nothing, so ``{% if name %}`` is how a template handles a missing name.

Filters, formatted by Babel (CLDR) for the message's language:

- ``{{ balance | points }}``: the number and the word: ``1 балл``, ``2 балла``, ``5 баллов``, ``1 000 баллов``;
  ``1 point``, ``1,000 points``. Russian groups digits with a no-break space (U+00A0), as CLDR says, so a number
  is never split across lines;
- ``{{ amount | money("RUB") }}``: minor units of a currency: ``1 234,50 ₽``; English writes the code where CLDR has
  no English symbol: ``RUB1,234.50``, ``$1,234.50``;
- ``{{ expiring_on | date }}``: ``30 ноября 2026 г.``, ``November 30, 2026``; a date-time is first moved to the
  time zone given to `render` (a date is shown as it is);
- ``{{ days | plural("день", "дня", "дней") }}``, ``{{ days | plural("day", "days") }}``: the word alone, with one
  form per CLDR plural category of the language, in CLDR's order (ru: one, few, many; en: one, other).

`check` is how a template is refused when saved: every part must fit its limit and render with the sample member
(`SAMPLE_VARIABLES`) in every language, and each problem names its part (``templates.ru.html``) and line."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from types import MappingProxyType, TracebackType
from typing import Any, Literal, get_args

import jinja2
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from loyalty.core import limits
from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.core.money import currency_exponent

Language = Literal["ru", "en"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
Part = Literal["subject", "html", "text"]

_LIMITS: Mapping[Part, int] = {
    "subject": limits.MESSAGE_SUBJECT,
    "html": limits.MESSAGE_HTML,
    "text": limits.MESSAGE_TEXT,
}
# The word `points` puts after the number, per CLDR plural category. Russian "other" is the fractional form
# ("1,5 балла"); points are whole, but the word is there so that no category is missing.
_POINT_WORDS: Mapping[Language, Mapping[str, str]] = {
    "ru": {"one": "балл", "few": "балла", "many": "баллов", "other": "балла"},
    "en": {"one": "point", "other": "points"},
}
# The categories a whole number falls in, in the order `plural` takes its forms.
_PLURAL_CATEGORIES: Mapping[Language, tuple[str, ...]] = {"ru": ("one", "few", "many"), "en": ("one", "other")}
_LOCALES: Mapping[Language, Locale] = {language: Locale.parse(language) for language in LANGUAGES}


@dataclass(frozen=True)
class Wording:
    """What a message says in one language. `text` is required: it is the SMS, or the email's plain-text part
    (which spam filters and text-only readers want); `subject` and `html` are for email."""

    text: str
    subject: str | None = None
    html: str | None = None


@dataclass(frozen=True)
class Template:
    """A message in each language it is written in, keyed by language (`ru`, `en`). A member whose language the
    template lacks gets its first wording."""

    wordings: Mapping[str, Wording]

    def wording(self, language: str) -> tuple[Language, Wording]:
        """The wording for `language`, or the first one, with the language it is written in."""
        wanted = _language(language)
        if wanted is not None and wanted in self.wordings:
            return wanted, self.wordings[wanted]
        for name, wording in self.wordings.items():
            known = _language(name)
            if known is not None:
                return known, wording
        raise ValueError(f"the template has no wording in {', '.join(LANGUAGES)}")


def _language(name: str) -> Language | None:
    return next((language for language in LANGUAGES if language == name), None)


@dataclass(frozen=True)
class Rendered:
    """A template rendered for one member: ready to send."""

    language: Language
    text: str
    subject: str | None = None
    html: str | None = None


# A sample member, the variables a trigger gives (the lead's triggers document theirs): `check` renders every
# template with it, and previews show it. Money is in minor units with its currency, dates are dates.
SAMPLE_VARIABLES: Mapping[str, Any] = MappingProxyType(
    {
        "name": "Анна",
        "balance": 1250,
        "points_earned": 150,
        "points_expiring": 300,
        "expiring_on": date(2026, 11, 30),
        "tier": "Gold",
        "tier_progress": MappingProxyType(
            {"next_tier": "Platinum", "spent": 3_500_000, "remaining": 1_500_000, "percent": 70}
        ),
        "currency": "RUB",
        "offer": MappingProxyType(
            {"title": "Double points on coffee", "code": "COFFEE2X", "ends_on": date(2026, 12, 15)}
        ),
        "unsubscribe_url": "https://loyalty.example/unsubscribe/sample",
    }
)


def render(template: Template, language: str, variables: Mapping[str, Any], time_zone: tzinfo) -> Rendered:
    """`template` in `language` (or its first wording) for the member described by `variables`, with date-times
    shown in `time_zone`. InvalidInput at ``templates.<language>.<part>`` if a part does not render."""
    written_in, wording = template.wording(language)
    parts = {
        part: _render_part(source, part, written_in, variables, time_zone, f"templates.{written_in}.{part}")
        for part, source in _parts(wording)
    }
    subject = parts.get("subject")
    return Rendered(
        language=written_in,
        text=parts["text"],
        subject=" ".join(subject.split()) if subject is not None else None,
        html=parts.get("html"),
    )


def check(template: Template, sample_variables: Mapping[str, Any] = SAMPLE_VARIABLES, path: str = "templates") -> None:
    """Refuse a template that could not be sent: a language other than ru/en, none at all, an empty text, a part
    over its limit, or a part that does not render with `sample_variables` (a syntax error, an unknown variable, an
    access the sandbox refuses). Every problem is reported at once, each at ``<path>.<language>.<part>``."""
    problems: list[FieldProblem] = []
    if not template.wordings:
        problems.append(FieldProblem(path, f"must have a wording in at least one language: {', '.join(LANGUAGES)}"))
    for name, wording in template.wordings.items():
        language = _language(name)
        if language is None:
            problems.append(FieldProblem(f"{path}.{name}", f"unknown language; expected one of {list(LANGUAGES)}"))
            continue
        if not wording.text.strip():
            problems.append(FieldProblem(f"{path}.{language}.text", "must not be empty"))
        for part, source in _parts(wording):
            where = f"{path}.{language}.{part}"
            if len(source) > _LIMITS[part]:
                problems.append(
                    FieldProblem(where, f"must be at most {_LIMITS[part]:,} characters, got {len(source):,}")
                )
                continue
            try:
                _render_part(source, part, language, sample_variables, UTC, where)
            except InvalidInput as error:
                problems.extend(error.problems)
    if problems:
        raise InvalidInput(problems)


def _parts(wording: Wording) -> list[tuple[Part, str]]:
    found: list[tuple[Part, str]] = []
    if wording.subject is not None:
        found.append(("subject", wording.subject))
    if wording.html is not None:
        found.append(("html", wording.html))
    return [*found, ("text", wording.text)]


# --- rendering --------------------------------------------------------------------------------------------------

# Filters read the message's language and time zone from the render's context, under names no template can write
# (they are not identifiers), so a variable can neither reach nor replace them.
_LANGUAGE_KEY = "loyalty:language"
_ZONE_KEY = "loyalty:time-zone"


def _render_part(
    source: str, part: Part, language: Language, variables: Mapping[str, Any], time_zone: tzinfo, path: str
) -> str:
    try:
        compiled = _compile(source, part == "html")
        return compiled.render({**variables, _LANGUAGE_KEY: language, _ZONE_KEY: time_zone})
    except jinja2.TemplateSyntaxError as error:
        raise InvalidInput.at(path, f"line {error.lineno}: syntax error: {error.message}") from None
    except jinja2.UndefinedError as error:
        raise InvalidInput.at(path, _at_line(error, _undefined_reason(str(error), variables))) from None
    except SecurityError as error:
        raise InvalidInput.at(path, _at_line(error, f"refused by the sandbox: {error}")) from None
    except Exception as error:  # a template is code: whatever it raises (a recursive macro too) is its problem
        raise InvalidInput.at(path, _at_line(error, str(error) or type(error).__name__)) from None


def _undefined_reason(message: str, variables: Mapping[str, Any]) -> str:
    if message.endswith(" is undefined"):
        known = ", ".join(sorted(name for name in variables if name.isidentifier()))
        return f"unknown variable {message.removesuffix(' is undefined')}; the variables are: {known}"
    return message


def _at_line(error: BaseException, reason: str) -> str:
    """`reason` with the template line the error was raised on: Jinja runs a template as code whose frames it
    files under "<template>" with the template's own line numbers."""
    line = None
    trace: TracebackType | None = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return f"line {line}: {reason}" if line is not None else reason


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, also refusing the two operators that can make a huge value from a small
    template: repeating a sequence and raising to a power."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                repeated = isinstance(sequence, str | list | tuple) and isinstance(times, int)
                if repeated and len(sequence) * times > limits.MESSAGE_HTML:
                    raise SecurityError(f"a repeated sequence over {limits.MESSAGE_HTML:,} items")
        if operator == "**" and isinstance(right, int) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"an exponent over {_MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


_MAX_EXPONENT = 64


# --- filters ----------------------------------------------------------------------------------------------------


def _whole(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} takes a whole number, got {type(value).__name__} {value!r}")
    return value


@jinja2.pass_context
def _points(context: jinja2.runtime.Context, value: object) -> str:
    language: Language = context[_LANGUAGE_KEY]
    count = _whole(value, "points")
    word = _POINT_WORDS[language][_LOCALES[language].plural_form(count)]
    return f"{format_decimal(count, locale=_LOCALES[language])} {word}"


@jinja2.pass_context
def _plural(context: jinja2.runtime.Context, value: object, *forms: str) -> str:
    language: Language = context[_LANGUAGE_KEY]
    categories = _PLURAL_CATEGORIES[language]
    if len(forms) != len(categories):
        raise TypeError(
            f"plural takes {len(categories)} forms in {language} ({', '.join(categories)}), got {len(forms)}"
        )
    category = _LOCALES[language].plural_form(_whole(value, "plural"))
    return dict(zip(categories, forms, strict=True))[category]


@jinja2.pass_context
def _money(context: jinja2.runtime.Context, value: object, currency: object) -> str:
    language: Language = context[_LANGUAGE_KEY]
    minor = _whole(value, "money")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"money takes a three-letter currency code, got {currency!r}")
    major = Decimal(minor).scaleb(-currency_exponent(currency.upper()))
    return format_currency(major, currency.upper(), locale=_LOCALES[language])


@jinja2.pass_context
def _date(context: jinja2.runtime.Context, value: object) -> str:
    language: Language = context[_LANGUAGE_KEY]
    time_zone: tzinfo = context[_ZONE_KEY]
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"date takes a date-time with its time zone, got {value.isoformat()}")
        value = value.astimezone(time_zone).date()
    if not isinstance(value, date):
        raise TypeError(f"date takes a date or a date-time, got {type(value).__name__} {value!r}")
    return format_date(value, format="long", locale=_LOCALES[language])


def _environment(autoescape: bool) -> _Sandbox:
    environment = _Sandbox(
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,  # a line holding only a {% tag %} leaves no empty line in a text message
        lstrip_blocks=True,
        finalize=lambda value: "" if value is None else value,
    )
    environment.filters.update({"points": _points, "money": _money, "date": _date, "plural": _plural})
    return environment


_ENVIRONMENTS = {True: _environment(True), False: _environment(False)}


@functools.lru_cache(maxsize=512)
def _compile(source: str, autoescape: bool) -> jinja2.Template:
    """A template compiled once and kept: sending a campaign renders the same few sources for every member."""
    return _ENVIRONMENTS[autoescape].from_string(source)
