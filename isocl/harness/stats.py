"""Statistics over seeds: Student-t confidence intervals and paired comparisons.

Seeds are few (3 to 10), so intervals use the t distribution with n - 1 degrees of freedom, not the normal one,
and spreads are sample standard deviations (ddof 1). A single value has no spread: its std and half-width are
None, never a made-up zero.
"""

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def t_quantile(confidence: float, n: int) -> float:
    """The two-sided Student-t quantile for `confidence` with n - 1 degrees of freedom (n >= 2)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n < 2:
        raise ValueError(f"a t interval needs at least 2 values, got {n}")
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1))


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float | None, float | None]:
    """(mean, sample std with ddof 1, half-width of the `confidence` interval of the mean).

    half-width = t_{(1 + confidence) / 2, n - 1} * std / sqrt(n); the interval is mean +- half-width. With one value
    the std and half-width are None (no interval can be formed from one seed). No values: ValueError.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("mean_ci needs a non-empty list of numbers")
    mean = float(x.mean())
    if x.size == 1:
        return mean, None, None
    std = float(x.std(ddof=1))
    return mean, std, t_quantile(confidence, x.size) * std / math.sqrt(x.size)


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict:
    """The paired difference a - b over matched pairs (a[i] and b[i]: the same seed).

    Returns mean, std (ddof 1) of the differences, the `confidence` t interval of the mean difference (ci_low,
    ci_high), n and the two-sided p-value of the paired t-test (scipy.stats.ttest_rel). Needs n >= 2 pairs. When
    every difference is the same, the test statistic is infinite (p = 0.0) or, for all-zero differences, undefined
    (p = 1.0: no evidence of a difference).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired_difference needs two lists of the same length, got {len(x)} and {len(y)}")
    if x.size < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {x.size}")
    diff = x - y
    mean, std, half = mean_ci(diff, confidence)
    constant = (1.0 if mean == 0 else 0.0) if std == 0 else None  # scipy gives nan or a warning here
    p_value = float(stats.ttest_rel(x, y).pvalue) if constant is None else constant
    return {
        "mean": mean,
        "std": std,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "n": int(x.size),
        "p_value": p_value,
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (in their given order): the i-th smallest times
    (m - i), made non-decreasing, capped at 1. Rejecting where the adjusted p < alpha keeps the chance of any false
    rejection in the family under alpha, whatever the dependence between the tests."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def holm_where_tested(p_values: Sequence[float | None]) -> list[float | None]:
    """`holm` over the entries that hold a p-value, as one family; None (no test: fewer than 2 pairs) stays None."""
    tested = [i for i, p in enumerate(p_values) if p is not None]
    adjusted = dict(zip(tested, holm([p_values[i] for i in tested]), strict=True))
    return [adjusted.get(i) for i in range(len(p_values))]
