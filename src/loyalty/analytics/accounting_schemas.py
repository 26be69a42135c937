"""Cohorts, the liability and the daily journal over HTTP: money as decimal strings in the program's currency,
shares as decimal strings with four places, points as integers; a share without a denominator is null."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# As `loyalty.http.schemas.Instant`, which only a module named `schemas` may import (see the import contracts).
Instant = Annotated[
    str, Field(description="ISO 8601 date-time with an offset", json_schema_extra={"format": "date-time"})
]


class Retention(BaseModel):
    month: str = Field(description="A month of the period, YYYY-MM in the program's time zone")
    active: int = Field(description="Members of the cohort with an earn or spend entry in that month")
    share: str | None = Field(description="active / the cohort's members; null for an empty cohort")


class Cohort(BaseModel):
    month: str = Field(description="The month the cohort registered in")
    registered: int
    retention: list[Retention] = Field(description="The cohort's month and every later month of the period")


class MonthEnd(BaseModel):
    month: str
    at: Instant = Field(description="The month's end (or the period's, for a last month cut short)")
    points: int = Field(description="The sum of every ledger entry before `at`")
    money: str = Field(description="points × the point value in force at `at`")


class CohortReport(BaseModel):
    from_: str = Field(alias="from")
    to: str
    currency: str
    months: list[str]
    cohorts: list[Cohort]
    liability: list[MonthEnd] = Field(description="The outstanding liability at each month's end")

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "from": "2026-09-01T00:00:00+03:00",
                    "to": "2026-11-01T00:00:00+03:00",
                    "currency": "RUB",
                    "months": ["2026-09", "2026-10"],
                    "cohorts": [
                        {
                            "month": "2026-09",
                            "registered": 2,
                            "retention": [
                                {"month": "2026-09", "active": 2, "share": "1.0000"},
                                {"month": "2026-10", "active": 1, "share": "0.5000"},
                            ],
                        },
                        {
                            "month": "2026-10",
                            "registered": 2,
                            "retention": [{"month": "2026-10", "active": 1, "share": "0.5000"}],
                        },
                    ],
                    "liability": [
                        {"month": "2026-09", "at": "2026-10-01T00:00:00+03:00", "points": 1600, "money": "1600.00"},
                        {"month": "2026-10", "at": "2026-11-01T00:00:00+03:00", "points": 1160, "money": "2320.00"},
                    ],
                }
            ]
        },
    )


class ExpiryMonth(BaseModel):
    expires: str | None = Field(description="YYYY-MM in the program's time zone; null: the points never expire")
    points: int
    money: str


class LiabilitySource(BaseModel):
    rule: str | None = Field(description="The rule that credited the lots (base, action.registration, adjustment...)")
    program_version: int | None
    lots: int
    points: int
    money: str


class ExpectedBreakage(BaseModel):
    matured_expired_points: int = Field(description="Points of matured lots that expired")
    matured_redeemed_points: int = Field(description="Points of matured lots that were redeemed")
    rate: str | None = Field(description="expired / (expired + redeemed); null without matured lots")
    expected_points: int = Field(description="The outstanding points × rate: expected to expire unused")
    expected_money: str


class LiabilityReport(BaseModel):
    as_of: Instant
    currency: str
    point_value: str = Field(description="The money a point is worth under the version in force at as_of")
    points_in_lots: int
    debt_points: int = Field(description="Points members owe after returns found them spent")
    liability_points: int = Field(description="points_in_lots − debt_points: the sum of the balances")
    liability_money: str
    by_expiry_month: list[ExpiryMonth]
    by_source: list[LiabilitySource]
    breakage: ExpectedBreakage
    expected_redemption_points: int = Field(description="liability_points − the expected breakage")
    expected_redemption_money: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-01T00:00:00+03:00",
                    "currency": "RUB",
                    "point_value": "2.00",
                    "points_in_lots": 1160,
                    "debt_points": 0,
                    "liability_points": 1160,
                    "liability_money": "2320.00",
                    "by_expiry_month": [{"expires": "2026-11", "points": 1160, "money": "2320.00"}],
                    "by_source": [
                        {"rule": "base", "program_version": 1, "lots": 1, "points": 75, "money": "150.00"},
                        {
                            "rule": "action.registration",
                            "program_version": 2,
                            "lots": 2,
                            "points": 1085,
                            "money": "2170.00",
                        },
                    ],
                    "breakage": {
                        "matured_expired_points": 1350,
                        "matured_redeemed_points": 250,
                        "rate": "0.8438",
                        "expected_points": 979,
                        "expected_money": "1958.00",
                    },
                    "expected_redemption_points": 181,
                    "expected_redemption_money": "362.00",
                }
            ]
        },
    )


class JournalLine(BaseModel):
    movement: str = Field(
        description="issued, issued_bonus, redeemed, expired, reversed_issue, reversed_redemption, adjusted_credit, "
        "adjusted_debit or revaluation"
    )
    points: int = Field(description="The change of the liability in points (+ raises it)")
    amount: str = Field(description="The money posted, never negative")
    debit: str = Field(description="The account debited")
    credit: str = Field(description="The account credited")


class JournalDay(BaseModel):
    date: str = Field(description="A day in the program's time zone")
    lines: list[JournalLine]
    closing_points: int
    closing_money: str


class LiabilityBalance(BaseModel):
    points: int
    money: str


class JournalReport(BaseModel):
    from_: str = Field(alias="from")
    to: str
    currency: str
    opening: LiabilityBalance
    days: list[JournalDay] = Field(description="The days with movements, in order")
    closing: LiabilityBalance

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "from": "2026-10-01T00:00:00+03:00",
                    "to": "2026-10-02T00:00:00+03:00",
                    "currency": "RUB",
                    "opening": {"points": 1600, "money": "1600.00"},
                    "days": [
                        {
                            "date": "2026-10-01",
                            "lines": [
                                {
                                    "movement": "issued",
                                    "points": 75,
                                    "amount": "75.00",
                                    "debit": "Revenue deferred to loyalty points",
                                    "credit": "Deferred revenue: loyalty points",
                                },
                                {
                                    "movement": "redeemed",
                                    "points": -500,
                                    "amount": "500.00",
                                    "debit": "Deferred revenue: loyalty points",
                                    "credit": "Revenue: points redeemed",
                                },
                            ],
                            "closing_points": 1175,
                            "closing_money": "1175.00",
                        }
                    ],
                    "closing": {"points": 1175, "money": "1175.00"},
                }
            ]
        },
    )
