"""The statistics of an experiment, pure: the difference of two groups' means and the relative lift with Welch's t
intervals, a seeded percentile bootstrap, CUPED variance reduction with a pre-period covariate, a verdict, and the
sample size a test needs.

Everything is computed in floats (NumPy, SciPy) and reported as Decimal strings rounded half to even (`figure`):
an interval is an estimate, not an amount of money. The treatment group is always compared with the control group
(treatment - control; lift = treatment / control - 1), so a positive lift says the program (or the campaign) added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

import numpy as np
from numpy.typing import NDArray
from scipy import stats as scipy_stats

from loyalty.core.errors import InvalidInput

Values = Sequence[float] | NDArray[np.float64]
SIGNIFICANT = "significant"
NOT_SIGNIFICANT = "not significant"
TOO_FEW = "too few to tell"  # a group with fewer than two units has no variance to speak of
BOOTSTRAP_RESAMPLES = 2000
_CHUNK = 4_000_000  # resampled values held in memory at once


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Welch:
    """Welch's t on the difference of means (unequal variances), and the relative lift by the delta method."""

    difference: float
    interval: Interval
    lift: float | None  # None when the control's mean is 0
    lift_interval: Interval | None
    p_value: float
    df: float


@dataclass(frozen=True)
class Comparison:
    """Two groups compared: their sizes and means, Welch's and the bootstrap's intervals, and the verdict (Welch's
    interval of the difference excludes 0, or not)."""

    n_treatment: int
    n_control: int
    mean_treatment: float
    mean_control: float
    welch: Welch | None
    bootstrap: Interval | None
    bootstrap_lift: Interval | None
    verdict: str


def _array(values: Values) -> NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def welch(treatment: Values, control: Values, confidence: float = 0.95) -> Welch | None:
    """Welch's interval of mean(treatment) - mean(control) at `confidence`, and of the relative lift
    (mean(treatment) / mean(control) - 1, its standard error by the delta method, on Welch's degrees of freedom).
    None when a group has fewer than two values."""
    t, c = _array(treatment), _array(control)
    if len(t) < 2 or len(c) < 2:
        return None
    return _welch(
        _Estimate(float(t.mean()), float(t.var(ddof=1)) / len(t), len(t)),
        _Estimate(float(c.mean()), float(c.var(ddof=1)) / len(c), len(c)),
        confidence,
    )


def ratio_welch(
    treatment: tuple[Values, Values], control: tuple[Values, Values], confidence: float = 0.95
) -> Welch | None:
    """Welch's intervals for a ratio of sums, such as the average check (spend / orders), compared between two
    groups of units (customers): each group's ratio R = sum(numerator) / sum(denominator), its variance by the delta
    method over the units, var(R) = sum((num - R den)²) / (n (n - 1) mean(den)²), so that the orders of one customer
    are not taken for independent draws. None when a group has fewer than two units or no denominator."""
    t, c = _ratio(*treatment), _ratio(*control)
    if t is None or c is None:
        return None
    return _welch(t, c, confidence)


@dataclass(frozen=True)
class _Estimate:
    value: float
    variance: float  # of the estimate, not of the units
    n: int


def _ratio(numerator: Values, denominator: Values) -> _Estimate | None:
    num, den = _array(numerator), _array(denominator)
    n = len(num)
    if n < 2 or den.sum() == 0:
        return None
    r = float(num.sum() / den.sum())
    residuals = num - r * den
    return _Estimate(r, float((residuals**2).sum()) / (n * (n - 1)) / float(den.mean()) ** 2, n)


def _welch(t: _Estimate, c: _Estimate, confidence: float) -> Welch:
    mt, mc, vt, vc = t.value, c.value, t.variance, c.variance
    difference = mt - mc
    se = math.sqrt(vt + vc)
    if se == 0:  # both groups constant: the difference is what it is
        p = 1.0 if difference == 0 else 0.0
        lift = difference / mc if mc else None
        exact = Interval(difference, difference)
        return Welch(difference, exact, lift, Interval(lift, lift) if lift is not None else None, p, math.inf)
    df = (vt + vc) ** 2 / ((vt**2 / (t.n - 1) if vt else 0.0) + (vc**2 / (c.n - 1) if vc else 0.0))
    q = float(scipy_stats.t.ppf(0.5 + confidence / 2, df))
    p = float(2 * scipy_stats.t.sf(abs(difference) / se, df))
    lift = lift_interval = None
    if mc != 0:
        lift = mt / mc - 1
        lift_se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
        lift_interval = Interval(lift - q * lift_se, lift + q * lift_se)
    return Welch(difference, Interval(difference - q * se, difference + q * se), lift, lift_interval, p, df)


def bootstrap(
    treatment: Values | tuple[Values, Values],
    control: Values | tuple[Values, Values],
    seed: int,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> tuple[Interval, Interval | None] | None:
    """Percentile bootstrap intervals of the difference and of the relative lift: each group's units resampled
    with replacement `resamples` times by a generator seeded with `seed`, so the same data and seed give the same
    interval. A group is values (the statistic is their mean) or a pair (numerator, denominator) per unit (the
    statistic is the ratio of their sums: a customer's orders move together). The lift's interval is None when a
    resampled control statistic is 0. None when a group has fewer than two units."""
    t, c = _units(treatment), _units(control)
    if t.shape[1] < 2 or c.shape[1] < 2:
        return None
    rng = np.random.default_rng(seed)
    stat_t, stat_c = _resampled(t, rng, resamples), _resampled(c, rng, resamples)
    tail = (1 - confidence) / 2
    finite = np.isfinite(stat_t) & np.isfinite(stat_c)
    if not finite.all():
        return None  # a resample without any denominator: the ratio is not defined
    low, high = np.quantile(stat_t - stat_c, [tail, 1 - tail])
    lift = None
    if np.all(stat_c != 0):
        lift_low, lift_high = np.quantile(stat_t / stat_c - 1, [tail, 1 - tail])
        lift = Interval(float(lift_low), float(lift_high))
    return Interval(float(low), float(high)), lift


def _units(group: Values | tuple[Values, Values]) -> NDArray[np.float64]:
    """A group as rows: one row of values, or two rows (numerator, denominator)."""
    if isinstance(group, tuple):
        return np.vstack([_array(group[0]), _array(group[1])])
    return _array(group).reshape(1, -1)


def _resampled(units: NDArray[np.float64], rng: np.random.Generator, resamples: int) -> NDArray[np.float64]:
    """The statistic of `resamples` resamples of the units, drawn a chunk at a time so memory stays bounded."""
    n = units.shape[1]
    per_chunk = max(1, _CHUNK // n)
    found = np.empty(resamples)
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, resamples, per_chunk):
            rows = min(per_chunk, resamples - start)
            drawn = units[:, rng.integers(0, n, size=(rows, n))]  # (1 or 2, rows, n)
            sums = drawn.sum(axis=2)
            found[start : start + rows] = sums[0] / n if len(units) == 1 else sums[0] / sums[1]
    return found


def cuped(values: Values, covariate: Values) -> tuple[NDArray[np.float64], float]:
    """CUPED: `values` less theta × (covariate - its mean), theta = cov(covariate, values) / var(covariate), over
    both groups together (so the adjustment is the same for each and the difference of means stays unbiased). The
    adjusted values, and the share of variance removed (the squared correlation of the two)."""
    y, x = _array(values), _array(covariate)
    if len(y) != len(x):
        raise ValueError("one covariate per value")
    if len(y) < 2:
        return y, 0.0
    var_x = float(x.var(ddof=1))
    if var_x == 0:
        return y, 0.0
    theta = float(np.cov(x, y, ddof=1)[0, 1]) / var_x
    adjusted = y - theta * (x - x.mean())
    var_y = float(y.var(ddof=1))
    return adjusted, (1 - float(adjusted.var(ddof=1)) / var_y) if var_y else 0.0


def compare(
    treatment: Values,
    control: Values,
    *,
    seed: int,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Comparison:
    """The two groups compared by Welch and by the bootstrap; significant when Welch's interval of the difference
    excludes 0."""
    t, c = _array(treatment), _array(control)
    w = welch(t, c, confidence)
    boot = bootstrap(t, c, seed, confidence, resamples)
    verdict = TOO_FEW if w is None else SIGNIFICANT if w.interval.excludes_zero() else NOT_SIGNIFICANT
    return Comparison(
        len(t),
        len(c),
        float(t.mean()) if len(t) else math.nan,
        float(c.mean()) if len(c) else math.nan,
        w,
        boot[0] if boot else None,
        boot[1] if boot else None,
        verdict,
    )


def compare_ratio(
    treatment: tuple[Values, Values],
    control: tuple[Values, Values],
    *,
    seed: int,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Comparison:
    """`compare` for a ratio of sums over units (numerator, denominator per unit), such as the average check."""
    w = ratio_welch(treatment, control, confidence)
    boot = bootstrap(treatment, control, seed, confidence, resamples)
    t, c = _units(treatment), _units(control)
    verdict = TOO_FEW if w is None else SIGNIFICANT if w.interval.excludes_zero() else NOT_SIGNIFICANT
    return Comparison(
        t.shape[1],
        c.shape[1],
        float(t[0].sum() / t[1].sum()) if t[1].sum() else math.nan,
        float(c[0].sum() / c[1].sum()) if c[1].sum() else math.nan,
        w,
        boot[0] if boot else None,
        boot[1] if boot else None,
        verdict,
    )


def sample_size(baseline_mean: Decimal, sd: Decimal, effect: Decimal, alpha: Decimal, power: Decimal) -> int:
    """Units needed in each group to detect a relative change `effect` of a mean `baseline_mean` whose standard
    deviation is `sd`, by a two-sided test at level `alpha` with probability `power`:
    n = 2 (z(1 - alpha/2) + z(power))² sd² / (effect × baseline_mean)², rounded up. InvalidInput naming the field
    of a value out of range."""
    if baseline_mean <= 0:
        raise InvalidInput.at("baseline_mean", "must be above 0")
    if sd <= 0:
        raise InvalidInput.at("sd", "must be above 0")
    if not 0 < effect <= 10:
        raise InvalidInput.at("effect", "must be above 0 and at most 10 (a relative change: 0.1 is +10%)")
    if not 0 < alpha < Decimal("0.5"):
        raise InvalidInput.at("alpha", "must be above 0 and below 0.5")
    if not Decimal("0.5") <= power < 1:
        raise InvalidInput.at("power", "must be at least 0.5 and below 1")
    z = float(scipy_stats.norm.ppf(1 - float(alpha) / 2) + scipy_stats.norm.ppf(float(power)))
    n = 2 * z**2 * float(sd) ** 2 / (float(effect) * float(baseline_mean)) ** 2
    # Rounded up, though not past a float's last digits: 63.0000000001 is 63.
    return int(Decimal(repr(n)).quantize(Decimal("1e-9"), ROUND_HALF_EVEN).to_integral_value(ROUND_CEILING))


def figure(value: float | None, places: int) -> str | None:
    """A float as a decimal string rounded half to even to `places`; None for none (or not a number)."""
    if value is None or not math.isfinite(value):
        return None
    rounded = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    return str(rounded.copy_abs() if rounded == 0 else rounded)  # no "-0.00"
