"""Message templates: Babel's Russian and English formats, the sandbox, and how `check` refuses a template."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.core import limits
from loyalty.core.errors import InvalidInput
from loyalty.messaging.templates import SAMPLE_VARIABLES, Rendered, Template, Wording, check, render

NBSP = "\u00a0"
MOSCOW = ZoneInfo("Europe/Moscow")


def text_in(language: str, source: str, time_zone: Any = UTC, **variables: Any) -> str:
    return render(Template({language: Wording(text=source)}), language, variables, time_zone).text


def problems(template: Template) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        check(template)
    return {problem.path: problem.reason for problem in refused.value.problems}


RU_POINTS = {
    0: "0 баллов",
    1: "1 балл",
    2: "2 балла",
    5: "5 баллов",
    11: "11 баллов",
    21: "21 балл",
    22: "22 балла",
    25: "25 баллов",
    101: "101 балл",
    1000: f"1{NBSP}000 баллов",
}
EN_POINTS = {
    0: "0 points",
    1: "1 point",
    2: "2 points",
    5: "5 points",
    11: "11 points",
    21: "21 points",
    22: "22 points",
    25: "25 points",
    101: "101 points",
    1000: "1,000 points",
}


@pytest.mark.parametrize(("count", "expected"), RU_POINTS.items())
def test_points_in_russian(count: int, expected: str) -> None:
    assert text_in("ru", "{{ n | points }}", n=count) == expected


@pytest.mark.parametrize(("count", "expected"), EN_POINTS.items())
def test_points_in_english(count: int, expected: str) -> None:
    assert text_in("en", "{{ n | points }}", n=count) == expected


def _cldr_russian_word(count: int) -> str:
    """CLDR's Russian rule for whole numbers, written out: one for 1, 21, 31... but not 11; few for 2-4, 22-24...
    but not 12-14; many for the rest."""
    if count % 10 == 1 and count % 100 != 11:
        return "балл"
    if count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
        return "балла"
    return "баллов"


@given(st.integers(min_value=0, max_value=10**12))
def test_russian_points_follow_the_cldr_rule(count: int) -> None:
    assert text_in("ru", "{{ n | points }}", n=count).rsplit(" ", 1)[1] == _cldr_russian_word(count)


@pytest.mark.parametrize(
    ("language", "source", "count", "expected"),
    [
        ("ru", "{{ n | plural('день', 'дня', 'дней') }}", 1, "день"),
        ("ru", "{{ n | plural('день', 'дня', 'дней') }}", 3, "дня"),
        ("ru", "{{ n | plural('день', 'дня', 'дней') }}", 12, "дней"),
        ("en", "{{ n | plural('day', 'days') }}", 1, "day"),
        ("en", "{{ n | plural('day', 'days') }}", 7, "days"),
    ],
)
def test_plural_picks_the_form_of_the_language(language: str, source: str, count: int, expected: str) -> None:
    assert text_in(language, source, n=count) == expected


def test_plural_with_the_wrong_number_of_forms_names_the_categories() -> None:
    found = problems(Template({"ru": Wording(text="{{ 5 | plural('день', 'дней') }}")}))
    assert found == {"templates.ru.text": "line 1: plural takes 3 forms in ru (one, few, many), got 2"}


@pytest.mark.parametrize(
    ("language", "minor", "currency", "expected"),
    [
        ("ru", 123450, "RUB", f"1{NBSP}234,50{NBSP}₽"),
        ("en", 123450, "USD", "$1,234.50"),
        # CLDR has no English symbol for the rouble: the code stands for it.
        ("en", 123450, "RUB", "RUB1,234.50"),
        ("ru", 5, "RUB", f"0,05{NBSP}₽"),
        ("en", 1500, "JPY", "¥1,500"),  # no minor units
        ("en", 1, "KWD", "KWD0.001"),  # three decimals
        ("ru", 10**14 + 1, "RUB", f"1{NBSP}000{NBSP}000{NBSP}000{NBSP}000,01{NBSP}₽"),  # exact: no float on the way
    ],
)
def test_money_from_minor_units(language: str, minor: int, currency: str, expected: str) -> None:
    assert text_in(language, "{{ m | money(c) }}", m=minor, c=currency) == expected


def test_money_refuses_a_fraction_and_a_bad_currency() -> None:
    found = problems(
        Template({"ru": Wording(text="{{ 12.5 | money('RUB') }}"), "en": Wording(text="{{ 1 | money('rubles') }}")})
    )
    assert found == {
        "templates.ru.text": "line 1: money takes a whole number, got float 12.5",
        "templates.en.text": "line 1: money takes a three-letter currency code, got 'rubles'",
    }


def test_dates_in_the_long_format() -> None:
    assert text_in("ru", "{{ d | date }}", d=date(2026, 11, 30)) == "30 ноября 2026\u202fг."
    assert text_in("en", "{{ d | date }}", d=date(2026, 11, 30)) == "November 30, 2026"
    assert text_in("en", "{{ d | date }}", d="2026-11-30") == "November 30, 2026"


def test_a_date_time_is_shown_on_its_day_in_the_time_zone_given() -> None:
    late_evening_utc = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)  # already December 1st in Moscow
    assert text_in("en", "{{ d | date }}", UTC, d=late_evening_utc) == "November 30, 2026"
    assert text_in("en", "{{ d | date }}", MOSCOW, d=late_evening_utc) == "December 1, 2026"
    assert text_in("en", "{{ d | date }}", MOSCOW, d="2026-11-30T22:30:00+00:00") == "December 1, 2026"


def test_a_date_time_without_a_time_zone_is_refused() -> None:
    with pytest.raises(InvalidInput, match="date takes a date-time with its time zone"):
        text_in("en", "{{ d | date }}", d=datetime(2026, 11, 30, 12, 0))  # noqa: DTZ001 (the point of the test)


def test_html_is_escaped_and_text_and_subject_are_not() -> None:
    wording = Wording(subject="Hello, {{ name }}", html="<p>Hello, {{ name }}</p>", text="Hello, {{ name }}")
    rendered = render(Template({"en": wording}), "en", {"name": "<script>alert(1)</script>"}, UTC)
    assert rendered == Rendered(
        language="en",
        subject="Hello, <script>alert(1)</script>",
        html="<p>Hello, &lt;script&gt;alert(1)&lt;/script&gt;</p>",
        text="Hello, <script>alert(1)</script>",
    )


def test_a_subject_is_one_line() -> None:
    wording = Wording(subject="{{ offer.title }}\n  for {{ name }}", text="-")
    rendered = render(Template({"en": wording}), "en", {"offer": {"title": "Double\r\npoints"}, "name": "Ann"}, UTC)
    assert rendered.subject == "Double points for Ann"


def test_a_member_gets_the_first_wording_when_the_template_lacks_the_language() -> None:
    template = Template({"ru": Wording(text="Привет"), "en": Wording(text="Hello")})
    assert render(template, "en", {}, UTC).text == "Hello"
    assert render(template, "de", {}, UTC) == Rendered(language="ru", text="Привет")


def test_none_is_shown_as_nothing_and_block_lines_leave_no_empty_line() -> None:
    source = "Hello{{ name }}\n{% if balance %}\nYou have {{ balance | points }}.\n{% endif %}\nBye"
    assert text_in("en", source, name=None, balance=2) == "Hello\nYou have 2 points.\nBye"


def test_an_unknown_variable_is_an_error_naming_it_and_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as refused:
        render(Template({"en": Wording(text="Hi\n{{ nmae }}")}), "en", {"name": "Ann", "balance": 1}, UTC)
    assert refused.value.problems[0].path == "templates.en.text"
    assert refused.value.problems[0].reason == "line 2: unknown variable 'nmae'; the variables are: balance, name"


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        ("{{ ''.__class__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ name.__init__.__globals__ }}", "access to attribute '__init__' of 'str' object is unsafe"),
        ("{{ 'x' * 1000000 }}", "a repeated sequence over 100,000 items"),
        ("{{ 10 ** 100000 }}", "an exponent over 64"),
    ],
)
def test_the_sandbox_refuses_internals_mutation_and_huge_values(source: str, refused: str) -> None:
    found = problems(Template({"en": Wording(text=source)}))
    assert found["templates.en.text"].startswith(f"line 1: refused by the sandbox: {refused}")


def test_a_macro_that_calls_itself_forever_is_refused_not_crashing() -> None:
    found = problems(Template({"en": Wording(text="{% macro loop() %}{{ loop() }}{% endmacro %}{{ loop() }}")}))
    assert "recursion" in found["templates.en.text"]


def test_the_sandbox_refuses_to_change_the_members_data() -> None:
    offer = {"code": "SPRING"}
    with pytest.raises(InvalidInput, match="access to attribute 'update' of 'dict' object is unsafe"):
        text_in("en", "{{ offer.update({'code': 'FREE'}) }}", offer=offer)
    assert offer == {"code": "SPRING"}


def test_check_reports_every_problem_at_its_part_and_line() -> None:
    template = Template(
        {
            "ru": Wording(subject="{{ name }", html="<p>\n{{ nmae }}</p>", text=" "),
            "en": Wording(text="{{ balance | points }}\n\n{{ balance | money }}"),
            "de": Wording(text="Hallo"),
        }
    )
    assert problems(template) == {
        "templates.ru.subject": "line 1: syntax error: unexpected '}'",
        "templates.ru.html": "line 2: unknown variable 'nmae'; the variables are: "
        + ", ".join(sorted(SAMPLE_VARIABLES)),
        "templates.ru.text": "must not be empty",
        "templates.en.text": "line 3: _money() missing 1 required positional argument: 'currency'",
        "templates.de": "unknown language; expected one of ['ru', 'en']",
    }


def test_check_passes_a_template_using_every_sample_variable() -> None:
    wording = Wording(
        subject="{{ name }}, {{ points_expiring | points }} expire on {{ expiring_on | date }}",
        html=(
            "<p>{{ name }}, you have {{ balance | points }} ({{ points_earned | points }} new).</p>"
            "<p>{{ tier }}: {{ tier_progress.percent }}% to {{ tier_progress.next_tier }},"
            " {{ tier_progress.remaining | money(currency) }} to go.</p>"
            "<p>{{ offer.title }} with {{ offer.code }} until {{ offer.ends_on | date }}</p>"
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
        ),
        text="{{ name }}: {{ balance | points }}",
    )
    check(Template({"ru": wording, "en": wording}))


def test_check_refuses_no_wording_at_all() -> None:
    assert problems(Template({})) == {"templates": "must have a wording in at least one language: ru, en"}


@pytest.mark.parametrize(
    ("part", "limit"),
    [("subject", limits.MESSAGE_SUBJECT), ("html", limits.MESSAGE_HTML), ("text", limits.MESSAGE_TEXT)],
)
def test_each_part_may_be_as_long_as_its_limit_and_no_longer(part: str, limit: int) -> None:
    def wording(length: int) -> Wording:
        return Wording(**{"text": "x", part: "x" * length})

    check(Template({"en": wording(limit)}))
    assert problems(Template({"en": wording(limit + 1)})) == {
        f"templates.en.{part}": f"must be at most {limit:,} characters, got {limit + 1:,}"
    }


def test_check_names_its_fields_under_the_path_given() -> None:
    with pytest.raises(InvalidInput) as refused:
        check(Template({"en": Wording(text="{{ nope }}")}), {}, path="triggers[2].templates")
    assert refused.value.problems[0].path == "triggers[2].templates.en.text"
