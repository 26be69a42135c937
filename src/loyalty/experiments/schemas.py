"""Experiments over HTTP: their definition, the report (decimal strings rounded half to even: means and differences
to the metric's places, lifts and p-values to four), and the sample-size calculator."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from loyalty.core import limits
from loyalty.http.schemas import Instant, InstantOrDate, Strict

Name = Annotated[str, Field(min_length=1, max_length=max(limits.STORE, limits.CITY))]

HOLDOUT_EXAMPLE: dict[str, JsonValue] = {
    "experiment_id": "holdout-2026q4",
    "name": "10% of members without the program",
    "kind": "holdout",
    "withholds": "program",
    "starts_at": "2026-10-01",
    "ends_at": "2027-01-01",
    "share": "0.1",
}
CITIES_EXAMPLE: dict[str, JsonValue] = {
    "experiment_id": "chicken-club",
    "name": "The program in Moscow and Kazan, not in Tver and Samara",
    "kind": "cities",
    "withholds": "program",
    "starts_at": "2026-10-01",
    "ends_at": "2027-01-01",
    "treatment": ["Moscow", "Kazan"],
    "control": ["Tver", "Samara"],
}


_STORED_EXAMPLE: dict[str, JsonValue] = {
    **HOLDOUT_EXAMPLE,
    "starts_at": "2026-09-30T21:00:00+00:00",
    "ends_at": "2026-12-31T21:00:00+00:00",
    "seed": 123456789,
    "segment": None,
    "treatment": [],
    "control": [],
}


class NewExperiment(Strict):
    experiment_id: str = Field(
        description="Lower-case letters, digits, '_', '-' and '.'", max_length=limits.EXPERIMENT_ID
    )
    name: str = Field(max_length=limits.NAME)
    kind: str = Field(
        description="holdout: a seeded random share of members; stores or cities: the program in the treatment "
        "stores or cities and not in the control ones",
        max_length=16,
    )
    withholds: str = Field(
        "program",
        description="What the control group goes without: program (no points earned or spent at all) or campaigns "
        "(no campaign or offer points)",
        max_length=16,
    )
    starts_at: InstantOrDate
    ends_at: InstantOrDate = Field(description="Not part of the period [starts_at, ends_at)")
    share: Annotated[str, Field(max_length=20)] | float | None = Field(
        None, description="holdout: the share of members held out, above 0 and at most 0.5 (50%)"
    )
    segment: Annotated[str, Field(max_length=limits.SEGMENT_ID)] | None = Field(
        None, description="holdout: draw only from this segment's members"
    )
    treatment: list[Name] | None = Field(
        None, max_length=limits.EXPERIMENT_LIST, description="stores or cities: with the program"
    )
    control: list[Name] | None = Field(
        None, max_length=limits.EXPERIMENT_LIST, description="stores or cities: without it"
    )
    seed: int | None = Field(None, description="The holdout's draw (default: from the id); the bootstrap's seed")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [HOLDOUT_EXAMPLE, CITIES_EXAMPLE]})

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Experiment(BaseModel):
    experiment_id: str
    name: str
    kind: Literal["holdout", "stores", "cities"]
    withholds: Literal["program", "campaigns"]
    starts_at: Instant
    ends_at: Instant
    seed: int
    share: str | None
    segment: str | None
    treatment: list[str]
    control: list[str]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **HOLDOUT_EXAMPLE,
                    "starts_at": "2026-09-30T21:00:00+00:00",
                    "ends_at": "2026-12-31T21:00:00+00:00",
                    "seed": 123456789,
                    "segment": None,
                    "treatment": [],
                    "control": [],
                }
            ]
        }
    )


class ExperimentList(BaseModel):
    experiments: list[Experiment] = Field(description="The latest to start first")

    model_config = ConfigDict(json_schema_extra={"examples": [{"experiments": [_STORED_EXAMPLE]}]})


Pair = list[str | None] | None  # [low, high]


class Side(BaseModel):
    units: int
    mean: str | None


class WelchFigures(BaseModel):
    difference: Pair
    lift: Pair
    p_value: str | None


class BootstrapFigures(BaseModel):
    difference: Pair
    lift: Pair


class CupedFigures(BaseModel):
    difference: Pair
    lift: Pair
    variance_reduction: str | None = Field(description="The share of the metric's variance the pre-period explains")
    verdict: str


class Metric(BaseModel):
    treatment: Side
    control: Side
    difference: str | None = Field(description="treatment - control")
    lift: str | None = Field(description="treatment / control - 1: 0.1000 is +10%")
    welch: WelchFigures | None
    bootstrap: BootstrapFigures | None
    cuped: CupedFigures | None = Field(description="Adjusted by the same metric in the pre-period; null for a ratio")
    verdict: str = Field(description="significant, not significant (Welch's interval contains 0), too few to tell")


class Group(BaseModel):
    customers: int
    buyers: int
    orders: int
    revenue: str
    pre_period_orders: int


class Period(BaseModel):
    from_: str = Field(alias="from")
    to: str

    model_config = ConfigDict(populate_by_name=True)


class StoreWeeks(BaseModel):
    weeks: int
    treatment_stores: int
    control_stores: int
    orders_per_store_week: Metric
    revenue_per_store_week: Metric


class Groups(BaseModel):
    treatment: Group
    control: Group


class Metrics(BaseModel):
    orders_per_customer: Metric
    spend_per_customer: Metric
    average_check: Metric


_METRIC_EXAMPLE: dict[str, JsonValue] = {
    "treatment": {"units": 900, "mean": "2.2000"},
    "control": {"units": 100, "mean": "2.0000"},
    "difference": "0.2000",
    "lift": "0.1000",
    "welch": {"difference": ["0.0200", "0.3800"], "lift": ["0.0100", "0.1900"], "p_value": "0.0290"},
    "bootstrap": {"difference": ["0.0210", "0.3790"], "lift": ["0.0105", "0.1895"]},
    "cuped": {
        "difference": ["0.1000", "0.3000"],
        "lift": ["0.0500", "0.1500"],
        "variance_reduction": "0.4500",
        "verdict": "significant",
    },
    "verdict": "significant",
}


class Report(BaseModel):
    experiment: Experiment
    period: Period
    pre_period: Period = Field(description="Of the same length, just before: the CUPED covariate")
    currency: str | None
    confidence: str
    bootstrap_resamples: int
    unit: str
    groups: Groups
    metrics: Metrics
    store_weeks: StoreWeeks | None = Field(description="A split by store or city: every customer's orders")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "experiment": {
                        **HOLDOUT_EXAMPLE,
                        "starts_at": "2026-09-30T21:00:00+00:00",
                        "ends_at": "2026-12-31T21:00:00+00:00",
                        "seed": 123456789,
                        "segment": None,
                        "treatment": [],
                        "control": [],
                    },
                    "period": {"from": "2026-09-30T21:00:00+00:00", "to": "2026-12-31T21:00:00+00:00"},
                    "pre_period": {"from": "2026-06-29T21:00:00+00:00", "to": "2026-09-30T21:00:00+00:00"},
                    "currency": "RUB",
                    "confidence": "0.95",
                    "bootstrap_resamples": 2000,
                    "unit": "member",
                    "groups": {
                        "treatment": {
                            "customers": 900,
                            "buyers": 700,
                            "orders": 1980,
                            "revenue": "1980000.00",
                            "pre_period_orders": 1800,
                        },
                        "control": {
                            "customers": 100,
                            "buyers": 75,
                            "orders": 200,
                            "revenue": "190000.00",
                            "pre_period_orders": 198,
                        },
                    },
                    "metrics": {
                        "orders_per_customer": _METRIC_EXAMPLE,
                        "spend_per_customer": _METRIC_EXAMPLE,
                        "average_check": {**_METRIC_EXAMPLE, "cuped": None},
                    },
                    "store_weeks": None,
                }
            ]
        }
    )


class SampleSize(BaseModel):
    per_group: int = Field(description="Units needed in each group")
    total: int
    baseline_mean: str
    sd: str
    effect: str
    alpha: str
    power: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "per_group": 566,
                    "total": 1132,
                    "baseline_mean": "100",
                    "sd": "30",
                    "effect": "0.05",
                    "alpha": "0.05",
                    "power": "0.8",
                }
            ]
        }
    )
