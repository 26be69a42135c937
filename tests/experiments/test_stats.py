"""The experiments' statistics on generated data: a known +10% effect is found, no effect is "not significant" about
95% of the time, CUPED narrows the interval, the sample size matches the textbook formula worked by hand."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from loyalty.core.errors import InvalidInput
from loyalty.experiments import stats


def groups(seed: int, n: int, effect: float, mean: float = 100.0, sd: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(mean * (1 + effect), sd, n), rng.normal(mean, sd, n)


def test_a_known_ten_percent_effect_is_inside_the_interval_which_excludes_zero() -> None:
    treatment, control = groups(seed=7, n=2000, effect=0.10)
    result = stats.compare(treatment, control, seed=1)
    assert result.welch is not None and result.welch.lift_interval is not None
    assert result.welch.lift_interval.contains(0.10)
    assert result.welch.lift_interval.excludes_zero()
    assert result.welch.interval.contains(10.0)  # the difference of means, in the metric's units
    assert result.bootstrap is not None and result.bootstrap_lift is not None
    assert result.bootstrap_lift.contains(0.10) and result.bootstrap_lift.excludes_zero()
    assert result.verdict == stats.SIGNIFICANT
    assert (result.n_treatment, result.n_control) == (2000, 2000)


def test_without_an_effect_about_95_percent_of_repetitions_are_not_significant() -> None:
    verdicts = []
    for seed in range(200):
        treatment, control = groups(seed=seed, n=200, effect=0.0)
        welch = stats.welch(treatment, control)
        assert welch is not None
        verdicts.append(not welch.interval.excludes_zero())
    assert 0.90 <= sum(verdicts) / len(verdicts) <= 0.99


def test_bootstrap_without_an_effect_is_mostly_not_significant_and_repeats_itself() -> None:
    covered = 0
    for seed in range(60):
        treatment, control = groups(seed=1000 + seed, n=150, effect=0.0)
        result = stats.bootstrap(treatment, control, seed=seed, resamples=500)
        assert result is not None
        covered += not result[0].excludes_zero()
    assert 0.85 <= covered / 60 <= 1.0
    treatment, control = groups(seed=3, n=50, effect=0.0)
    assert stats.bootstrap(treatment, control, seed=9) == stats.bootstrap(treatment, control, seed=9)


def test_welch_agrees_with_scipy_s_own_test() -> None:
    treatment, control = groups(seed=11, n=40, effect=0.05, sd=25)
    control = control[:25]  # unequal sizes and variances are Welch's case
    welch = stats.welch(treatment, control)
    assert welch is not None
    reference = scipy_stats.ttest_ind(treatment, control, equal_var=False)
    assert welch.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    interval = reference.confidence_interval(0.95)
    assert (welch.interval.low, welch.interval.high) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_cuped_narrows_the_interval_when_the_pre_period_correlates() -> None:
    rng = np.random.default_rng(5)
    n = 1000
    before = rng.gamma(2.0, 50.0, 2 * n)  # each customer's spend in the pre-period
    during = before + rng.normal(0, 20, 2 * n)
    during[:n] *= 1.10
    raw = stats.welch(during[:n], during[n:])
    adjusted_values, reduction = stats.cuped(during, before)
    adjusted = stats.welch(adjusted_values[:n], adjusted_values[n:])
    assert raw is not None and adjusted is not None
    raw_width = raw.interval.high - raw.interval.low
    assert adjusted.interval.high - adjusted.interval.low < raw_width / 2
    assert reduction > 0.75
    assert adjusted.interval.contains(10.0)  # the true effect: 10% of a mean pre-period spend of 2 × 50
    _, none_removed = stats.cuped(during, rng.normal(0, 1, 2 * n))
    assert none_removed < 0.01
    assert stats.cuped(during, np.ones(2 * n))[1] == 0.0  # a constant covariate adjusts nothing


def test_the_sample_size_of_the_textbook_example() -> None:
    # Mean check 100, standard deviation 30, to detect +5% at alpha 0.05 with power 0.80:
    # n = 2 × (1.959964 + 0.841621)² × 30² / (0.05 × 100)² = 2 × 7.848880 × 900 / 25 = 565.12, so 566 per group.
    n = stats.sample_size(Decimal(100), Decimal(30), Decimal("0.05"), Decimal("0.05"), Decimal("0.8"))
    assert n == 566
    # Cohen's medium effect (d = 0.5): 62.79, so 63 per group.
    assert stats.sample_size(Decimal(1), Decimal(1), Decimal("0.5"), Decimal("0.05"), Decimal("0.8")) == 63


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("baseline_mean", ("0", "1", "0.1", "0.05", "0.8")),
        ("sd", ("10", "-1", "0.1", "0.05", "0.8")),
        ("effect", ("10", "1", "0", "0.05", "0.8")),
        ("alpha", ("10", "1", "0.1", "0.5", "0.8")),
        ("power", ("10", "1", "0.1", "0.05", "1")),
    ],
)
def test_a_sample_size_out_of_range_names_the_field(field: str, values: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as refused:
        stats.sample_size(*(Decimal(v) for v in values))
    assert [p.path for p in refused.value.problems] == [field]


def test_too_few_units_give_no_interval() -> None:
    result = stats.compare([5.0], [1.0, 2.0], seed=0)
    assert (result.welch, result.bootstrap, result.verdict) == (None, None, stats.TOO_FEW)


@given(st.floats(-1e9, 1e9, allow_nan=False), st.integers(0, 6))
def test_a_figure_is_the_value_rounded_half_to_even(value: float, places: int) -> None:
    shown = stats.figure(value, places)
    assert shown is not None
    assert abs(Decimal(shown) - Decimal(repr(value))) <= Decimal(1).scaleb(-places) / 2
    assert not shown.startswith("-") or Decimal(shown) < 0


def test_a_ratio_of_sums_is_compared_over_customers_not_orders() -> None:
    # Each customer buys a few orders of about 100 (treatment: about 110): the average check is spend / orders.
    rng = np.random.default_rng(21)

    def customers(n: int, check: float) -> tuple[np.ndarray, np.ndarray]:
        orders = rng.poisson(3, n) + 1
        own = rng.normal(check, 20, n)  # a customer's own usual check: their orders are alike
        return orders * own + rng.normal(0, 5, n), orders.astype(float)

    treatment, control = customers(3000, 110.0), customers(3000, 100.0)
    result = stats.compare_ratio(treatment, control, seed=2)
    assert result.mean_treatment == pytest.approx(treatment[0].sum() / treatment[1].sum())
    assert result.welch is not None and result.welch.lift_interval is not None
    assert result.welch.lift_interval.contains(0.10) and result.verdict == stats.SIGNIFICANT
    assert result.bootstrap_lift is not None and result.bootstrap_lift.contains(0.10)
    # The delta method and the bootstrap of customers agree on the width, within a fifth.
    assert result.bootstrap is not None
    welch_width = result.welch.interval.high - result.welch.interval.low
    boot_width = result.bootstrap.high - result.bootstrap.low
    assert boot_width == pytest.approx(welch_width, rel=0.2)


def test_no_difference_in_a_ratio_is_mostly_not_significant() -> None:
    rng = np.random.default_rng(4)
    quiet = 0
    for _ in range(200):
        groups_ = []
        for _group in range(2):
            orders = (rng.poisson(2, 150) + 1).astype(float)
            groups_.append((orders * rng.gamma(4, 25, 150), orders))
        welch = stats.ratio_welch(groups_[0], groups_[1])
        assert welch is not None
        quiet += not welch.interval.excludes_zero()
    assert 0.90 <= quiet / 200 <= 0.99
