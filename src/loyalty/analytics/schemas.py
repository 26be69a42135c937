"""The KPIs of a period over HTTP: money as decimal strings in the program's currency, ratios as decimal strings
with four places ("0.7000"), counts and points as integers; a figure without a denominator is null."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Ratio = str | None  # a decimal string with four places; null when its denominator is zero
MoneyOrNone = str | None


class OrderFigures(BaseModel):
    orders: int = Field(description="Confirmed orders of the period not wholly returned")
    revenue: str = Field(description="Their totals net of returns, in the program's currency")
    average_check: MoneyOrNone = Field(description="revenue / orders; null without orders")


class Figures(OrderFigures):
    registered_members: int = Field(description="Members registered before the period's end")
    active_members: int = Field(description="Members who earned or spent points in the period")
    engagement: Ratio = Field(description="active / registered")
    engagement_good: bool | None = Field(description="engagement reaches 0.70, the line of a healthy program")
    churn: Ratio = Field(
        description="Members active in the previous period of the same length and not in this one, "
        "over those active in the previous period"
    )
    repeat_purchase_rate: Ratio = Field(description="Members with 2 orders or more / members with 1 or more")
    purchase_frequency: Ratio = Field(description="Members' orders / members with 1 order or more")
    historical_ltv: MoneyOrNone = Field(description="Members' net revenue up to the period's end / registered members")
    points_issued: int = Field(description="Earned on orders, given for actions, added by operators")
    points_redeemed: int = Field(description="Spent on orders, less spent points given back by returns")
    points_expired: int
    points_taken_back: int = Field(description="By returns of the orders that earned them, and by operators")
    redemption_rate: Ratio = Field(description="redeemed / issued")
    breakage: Ratio = Field(description="expired / issued")
    liability_points: int = Field(description="Points outstanding at the period's end")
    liability_money: MoneyOrNone = Field(description="liability_points × the money a point is worth")
    program_cost_share: Ratio = Field(description="Money value of the points redeemed / revenue (0.0345 is 3.45%)")


FigureValue = int | str | bool | None


class KpiGroup(BaseModel):
    group: str | None = Field(description="The group: a segment or tier id, a store or a channel (null: none named)")
    figures: dict[str, FigureValue] = Field(
        description="The KPIs of the group, named and valued as in `overall`. A member dimension (segment, tier) "
        "has every figure, over the group's members and their orders; an order dimension (store, channel) has the "
        "figures of its orders (orders, revenue, average check, repeat purchase rate, purchase frequency; points "
        "issued, redeemed and taken back by its orders, redemption rate, program cost share) and of the members "
        "who ordered in it in the period (historical LTV, liability), and no registration, activity, engagement, "
        "churn, expiry or breakage, which no order decides"
    )
    members: OrderFigures | None = Field(
        default=None, description="An order group's orders of members; null for a member dimension"
    )
    non_members: OrderFigures | None = Field(
        default=None, description="An order group's orders of non-members; null for a member dimension"
    )

    @model_validator(mode="before")
    @classmethod
    def _parts_shown(cls, data: Any) -> Any:
        """A member group's parts are null, not left out: the endpoint leaves out only what was not set (`by` and
        `groups` when no split was asked), and a member group has no parts to set."""
        return {"members": None, "non_members": None, **data} if isinstance(data, dict) else data


class MessageFigures(BaseModel):
    emails_delivered: int = Field(description="Emails the mail server accepted in the period")
    emails_opened: int = Field(description="Of those, opened (once per email, however often)")
    emails_clicked: int = Field(description="Of those, with a link followed")
    open_rate: Ratio = Field(description="opened / delivered")
    click_rate: Ratio = Field(description="clicked / delivered")


class KpiReport(BaseModel):
    from_: str = Field(alias="from", description="The period's first instant")
    to: str = Field(description="The instant the period ends, not part of it")
    currency: str
    overall: Figures
    members: OrderFigures = Field(description="Orders of members")
    non_members: OrderFigures = Field(description="Orders of non-members (no member named at the checkout)")
    messages: MessageFigures | None = Field(default=None, description="Emails of the period and their opens, clicks")
    by: str | None = Field(default=None, description="The dimension the KPIs are split by; only when split")
    groups: list[KpiGroup] = Field(
        default_factory=list,
        description="The figures of each group of `by`, in order of the group (null last); only when split",
    )

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "from": "2026-10-01T00:00:00+03:00",
                    "to": "2026-11-01T00:00:00+03:00",
                    "currency": "RUB",
                    "overall": {
                        "registered_members": 4,
                        "active_members": 2,
                        "engagement": "0.5000",
                        "engagement_good": False,
                        "churn": "0.5000",
                        "orders": 4,
                        "revenue": "12500.00",
                        "average_check": "3125.00",
                        "repeat_purchase_rate": "0.5000",
                        "purchase_frequency": "1.5000",
                        "historical_ltv": "4875.00",
                        "points_issued": 1375,
                        "points_redeemed": 500,
                        "points_expired": 500,
                        "points_taken_back": 150,
                        "redemption_rate": "0.3636",
                        "breakage": "0.3636",
                        "liability_points": 1825,
                        "liability_money": "1825.00",
                        "program_cost_share": "0.0400",
                    },
                    "members": {"orders": 3, "revenue": "7500.00", "average_check": "2500.00"},
                    "non_members": {"orders": 1, "revenue": "5000.00", "average_check": "5000.00"},
                    "messages": {
                        "emails_delivered": 40,
                        "emails_opened": 18,
                        "emails_clicked": 5,
                        "open_rate": "0.4500",
                        "click_rate": "0.1250",
                    },
                    "by": "channel",
                    "groups": [
                        {
                            "group": "web",
                            "figures": {
                                "orders": 1,
                                "revenue": "3000.00",
                                "average_check": "3000.00",
                                "repeat_purchase_rate": "0.0000",
                                "purchase_frequency": "1.0000",
                                "historical_ltv": "8000.00",
                                "points_issued": 100,
                                "points_redeemed": 500,
                                "points_taken_back": 100,
                                "redemption_rate": "5.0000",
                                "liability_points": 250,
                                "liability_money": "250.00",
                                "program_cost_share": "0.1667",
                            },
                            "members": {"orders": 1, "revenue": "3000.00", "average_check": "3000.00"},
                            "non_members": {"orders": 0, "revenue": "0.00", "average_check": None},
                        }
                    ],
                }
            ]
        },
    )


class Change(BaseModel):
    before: FigureValue = Field(description="The figure of the days before the launch")
    after: FigureValue = Field(description="The figure of the days from the launch")
    change: str | None = Field(description="after - before, a decimal string; null when either is null or a flag")
    relative_change: str | None = Field(
        description="(after - before) / |before|, four places (0.1000 is +10%); null also when before is 0"
    )


class Period(BaseModel):
    from_: str = Field(alias="from")
    to: str

    model_config = ConfigDict(populate_by_name=True)


class LaunchReport(BaseModel):
    launch: str = Field(description="The launch's first instant")
    days: int = Field(description="The days on either side")
    currency: str
    before: Period = Field(description="[launch - days, launch)")
    after: Period = Field(description="[launch, launch + days)")
    overall: dict[str, Change]
    members: dict[str, Change] = Field(description="Orders of members")
    non_members: dict[str, Change] = Field(description="Orders of non-members")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "launch": "2026-10-01T00:00:00+03:00",
                    "days": 30,
                    "currency": "RUB",
                    "before": {"from": "2026-09-01T00:00:00+03:00", "to": "2026-10-01T00:00:00+03:00"},
                    "after": {"from": "2026-10-01T00:00:00+03:00", "to": "2026-10-31T00:00:00+03:00"},
                    "overall": {
                        "engagement": {
                            "before": "0.5000",
                            "after": "0.6000",
                            "change": "0.1000",
                            "relative_change": "0.2000",
                        },
                        "average_check": {
                            "before": "2000.00",
                            "after": "2200.00",
                            "change": "200.00",
                            "relative_change": "0.1000",
                        },
                    },
                    "members": {"orders": {"before": 10, "after": 11, "change": "1", "relative_change": "0.1000"}},
                    "non_members": {"orders": {"before": 4, "after": 4, "change": "0", "relative_change": "0.0000"}},
                }
            ]
        },
    )


class SimulationRequest(BaseModel):
    program: dict[str, Any] = Field(description="The program to simulate, a draft or a published one (see the README)")
    from_: str = Field(
        alias="from", max_length=40, description="The first instant shown: a date (the program's zone) or date-time"
    )
    to: str = Field(max_length=40, description="The end, not included")
    redeeming_members: Decimal | None = Field(
        None, ge=0, le=1, max_digits=6, description="Share of members who pay with points (default: the history's)"
    )
    redeeming_orders: Decimal | None = Field(
        None,
        ge=0,
        le=1,
        max_digits=6,
        description="Share of their orders paid partly with points (default: the history's)",
    )

    model_config = ConfigDict(
        populate_by_name=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "program": {
                        "name": "7% with 6-month expiry",
                        "currency": "RUB",
                        "earning": {"rules": [{"id": "base", "name": "7%", "percent": 7}]},
                        "expiry": {"after_days": 182},
                    },
                    "from": "2026-01-01",
                    "to": "2027-01-01",
                    "redeeming_members": "0.4",
                }
            ]
        },
    )


class SimulatedFigures(BaseModel):
    orders: int
    revenue: str = Field(description="The orders' totals")
    points_issued: int = Field(description="Earned on orders and given for actions")
    campaign_points_issued: int = Field(description="Of points_issued: earned from campaigns and personal offers")
    points_redeemed: int
    points_expired: int
    liability_points: int = Field(description="Outstanding at the month's (the period's) end")
    liability_money: str = Field(description="At the simulated program's point value")
    issued_cost_share: Ratio = Field(description="Money value of the points issued / revenue")
    program_cost_share: Ratio = Field(description="Money value of the points redeemed / revenue")


class SimulatedMonth(BaseModel):
    month: str = Field(description="YYYY-MM in the program's time zone")
    actual: SimulatedFigures = Field(description="What the ledger shows")
    simulated: SimulatedFigures = Field(description="What the simulated program would have done")


class SimulationTotals(BaseModel):
    actual: SimulatedFigures
    simulated: SimulatedFigures


class SimulationReport(BaseModel):
    from_: str = Field(alias="from")
    to: str
    currency: str
    assumptions: dict[str, str] = Field(description="redeeming_members and redeeming_orders, as simulated")
    campaigns: list[str] = Field(
        description="The campaigns and offers simulated (campaign:<id>, offer:<id>): the stored ones, and those the "
        "program's file keeps in their place or beside them"
    )
    months: list[SimulatedMonth]
    total: SimulationTotals

    model_config = ConfigDict(populate_by_name=True)
