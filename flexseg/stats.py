"""Statistics of one comparison between two arms of runs (docs/statistics.md).

Each arm is a set of runs with one number per run (a metric in percent) and the run's
seed. When both arms hold each of their seeds once and share at least one seed, the
comparison is **paired by seed**: d_s = a_s − b_s over the shared seeds s (seeds only one
arm has are dropped, and reported); otherwise it is **unpaired** (Welch).

- Δ: mean of the paired differences (paired) or difference of the arm means (Welch),
  in the units of the inputs.
- Interval (``level``, default 95 %): Student t on the differences, Δ ± t_{n−1} · s_d / √n
  (``ci="t"``), or the percentile bootstrap of the mean difference (``ci="bootstrap"``:
  :data:`BOOTSTRAP_RESAMPLES` resamples of the seeds with replacement, generator seed
  :data:`BOOTSTRAP_SEED`); unpaired: Welch's t interval with Welch–Satterthwaite
  degrees of freedom. Fewer than 2 pairs (or fewer than 2 runs in an arm, unpaired):
  NaN, never an error.
- p-value, two-sided, of "no difference": ``test="signflip"`` (default; the mean of the
  differences against all 2^n sign assignments — exact for n ≤ :data:`SIGNFLIP_EXACT_MAX_N`,
  else :data:`SIGNFLIP_RESAMPLES` random ones), ``"wilcoxon"`` (signed-rank, scipy's
  exact distribution for small n without ties), ``"t"`` (paired t); unpaired: Welch's t.
  No p-value either with fewer than 2 pairs.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import stats as sps

CI_METHODS: tuple[str, ...] = ("t", "bootstrap")
TESTS: tuple[str, ...] = ("signflip", "wilcoxon", "t")
#: Bootstrap resamples and generator seed (fixed: a report is a function of its runs).
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
#: Sign-flip test: exact enumeration up to this many pairs, else random sign vectors.
SIGNFLIP_EXACT_MAX_N = 16
SIGNFLIP_RESAMPLES = 100_000
SIGNFLIP_SEED = 0

NAN = float("nan")


def _vector(values: Iterable[float], name: str = "values") -> np.ndarray:
    """1-D float64 array of finite values; raises on NaN/inf (callers drop them first)."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def t_quantile(level: float, df: float) -> float:
    """Two-sided Student-t quantile t_{(1+level)/2, df}; NaN when df is not positive.

    Args:
        level: coverage of the two-sided interval, in (0, 1) (ValueError otherwise).
        df: degrees of freedom (may be fractional: Welch–Satterthwaite).

    Returns:
        The quantile, a float.

    Example:
        >>> round(t_quantile(0.95, 4), 4)
        2.7764
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not df > 0:
        return NAN
    return float(sps.t.ppf(0.5 + level / 2.0, df))


def mean_half_width(std: float, n: int, level: float = 0.95) -> float:
    """Half width of the t interval of a mean from its sample std (ddof 1) and n:
    t_{n−1} · std / √n; NaN for n < 2 or a NaN std.

    Args:
        std: sample standard deviation (ddof 1), in the units of the values.
        n: number of values.
        level: coverage of the interval.

    Returns:
        The half width, in the units of ``std``.

    Example:
        >>> round(mean_half_width(1.0, 5), 4)  # 2.7764 / √5
        1.2417
    """
    if n < 2 or std is None or math.isnan(std):
        return NAN
    return t_quantile(level, n - 1) * float(std) / math.sqrt(n)


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` [n] (n − 1 degrees of freedom);
    ``(nan, nan)`` for n < 2. Paired use: ``values`` = the differences a_s − b_s.

    Args:
        values: n finite numbers (ValueError on NaN/inf).
        level: coverage of the interval.

    Returns:
        ``(low, high)`` in the units of ``values``.

    Example:
        >>> [round(v, 3) for v in t_interval([1.0, 2.0, 3.0, 4.0, 5.0])]
        [1.037, 4.963]
    """
    x = _vector(values)
    if x.size < 2:
        return NAN, NAN
    half = mean_half_width(float(x.std(ddof=1)), int(x.size), level)
    centre = float(x.mean())
    return centre - half, centre + half


def bootstrap_interval(values: Sequence[float], level: float = 0.95, n_resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` [n]: ``n_resamples`` draws
    of n values with replacement from a ``numpy`` generator seeded with ``seed``; the
    (1 − level)/2 and (1 + level)/2 quantiles of the resampled means. ``(nan, nan)`` for n < 2.

    Args:
        values: n finite numbers.
        level: coverage of the interval.
        n_resamples: number of bootstrap resamples (≥ 1).
        seed: seed of the generator (the interval is a function of the inputs).

    Returns:
        ``(low, high)`` in the units of ``values``.

    Example:
        >>> [round(v, 3) for v in bootstrap_interval([1.0, 2.0, 3.0, 4.0, 5.0], n_resamples=2000)]
        [1.8, 4.2]
    """
    x = _vector(values)
    if x.size < 2:
        return NAN, NAN
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    low, high = np.quantile(means, [0.5 - level / 2.0, 0.5 + level / 2.0])
    return float(low), float(high)


def sign_flip_p(differences: Sequence[float], exact_max_n: int = SIGNFLIP_EXACT_MAX_N,
                n_resamples: int = SIGNFLIP_RESAMPLES, seed: int = SIGNFLIP_SEED) -> float:
    """Two-sided sign-flip (paired permutation) p-value of mean(d) = 0: the share of sign
    vectors σ ∈ {−1, 1}^n with |mean(σ·d)| ≥ |mean(d)|. Exact (all 2^n vectors) for
    n ≤ ``exact_max_n``; else (1 + hits) / (1 + ``n_resamples``) random vectors from a
    generator seeded with ``seed``. NaN for n = 0. The smallest exact p is 2 / 2^n
    (0.25 for 3 pairs, 0.0625 for 5, 0.002 for 10).

    Args:
        differences: the n paired differences a_s − b_s.
        exact_max_n: largest n enumerated exactly.
        n_resamples: random sign vectors beyond ``exact_max_n``.
        seed: seed of the generator of those sign vectors.

    Returns:
        The p-value in (0, 1].

    Example:
        >>> sign_flip_p([1.0, 2.0, 3.0])  # only all-plus and all-minus reach |mean| 2: 2 of 8
        0.25
    """
    d = _vector(differences, "differences")
    n = d.size
    if n == 0:
        return NAN
    observed = abs(float(d.mean()))
    tol = 1e-12 * max(1.0, observed)
    if n <= exact_max_n:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        null = np.abs(signs @ d) / n
        return float(np.mean(null >= observed - tol))
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_resamples, 10_000):
        size = min(10_000, n_resamples - start)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(size, n))
        hits += int(np.sum(np.abs(signs @ d) / n >= observed - tol))
    return (1.0 + hits) / (1.0 + n_resamples)


def wilcoxon_p(differences: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``: zero differences
    dropped, exact null distribution for small n without ties). 1.0 when every difference
    is 0; NaN for n = 0.

    Args:
        differences: the n paired differences a_s − b_s.

    Returns:
        The p-value.

    Example:
        >>> wilcoxon_p([1.0, 2.0, 3.0, 4.0, 5.0])  # all ranks positive: 2 of 2^5 sign patterns
        0.0625
    """
    d = _vector(differences, "differences")
    if d.size == 0:
        return NAN
    if np.all(d == 0):
        return 1.0
    return float(sps.wilcoxon(d).pvalue)


def paired_t_p(differences: Sequence[float]) -> float:
    """Two-sided one-sample t-test p-value of mean(d) = 0 (≡ ``scipy.stats.ttest_rel``);
    NaN for n < 2 or when every difference is equal (no spread).

    Args:
        differences: the n paired differences a_s − b_s.

    Returns:
        The p-value.

    Example:
        >>> round(paired_t_p([1.0, 2.0, 3.0, 4.0, 5.0]), 4)  # t = 3 / (1.581 / √5) = 4.24, 4 df
        0.0132
    """
    d = _vector(differences, "differences")
    if d.size < 2 or np.all(d == d[0]):
        return NAN
    return float(sps.ttest_1samp(d, 0.0).pvalue)


def welch(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """Welch's unequal-variance comparison of two independent samples a [n_a], b [n_b]:
    ``(Δ = mean(a) − mean(b), low, high, p)`` with the t interval on Welch–Satterthwaite
    degrees of freedom. Interval and p are NaN when an arm has < 2 values or both
    variances are 0; Δ is NaN when an arm is empty.

    Args:
        a: the n_a values of arm a.
        b: the n_b values of arm b.
        level: coverage of the interval.

    Returns:
        ``(delta, low, high, p)``; delta and the interval in the units of the inputs.

    Example:
        >>> [round(v, 3) for v in welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0])]
        [-3.5, -5.732, -1.268, 0.01]
    """
    x, y = _vector(a, "a"), _vector(b, "b")
    if x.size == 0 or y.size == 0:
        return NAN, NAN, NAN, NAN
    delta = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return delta, NAN, NAN, NAN
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se2 = va + vb
    if se2 == 0:
        return delta, NAN, NAN, NAN
    df = se2**2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = t_quantile(level, df) * math.sqrt(se2)
    p = 2.0 * float(sps.t.sf(abs(delta) / math.sqrt(se2), df))
    return delta, delta - half, delta + half, p


@dataclass(frozen=True)
class Comparison:
    """Arm a − arm b. ``t_low``/``t_high``: the t interval (paired t, or Welch when
    unpaired); ``low``/``high``: the interval of the chosen ``ci`` method (= the t
    interval unless bootstrap); ``n_pairs``: seeds used (0 when unpaired)."""

    delta: float
    low: float
    high: float
    t_low: float
    t_high: float
    p_value: float
    n_pairs: int
    n_a: int
    n_b: int
    paired: bool
    interval: str  # "paired t" | "paired bootstrap" | "Welch t"
    test: str  # "sign-flip" | "Wilcoxon" | "paired t" | "Welch t"


TEST_NAMES = {"signflip": "sign-flip", "wilcoxon": "Wilcoxon", "t": "paired t"}


def paired(differences: Sequence[float], ci: str = "t", test: str = "signflip", level: float = 0.95,
           n_resamples: int = BOOTSTRAP_RESAMPLES, n_a: int | None = None, n_b: int | None = None) -> Comparison:
    """Paired comparison from the differences d [n] (a_s − b_s, one per shared seed).

    Args:
        differences: the n differences a_s − b_s.
        ci: interval method, ``"t"`` or ``"bootstrap"``.
        test: p-value, ``"signflip"``, ``"wilcoxon"`` or ``"t"``.
        level: coverage of the interval.
        n_resamples: bootstrap resamples (``ci="bootstrap"``).
        n_a, n_b: run counts of the arms to report (default n).

    Returns:
        A :class:`Comparison` (``paired=True``); no interval and no p-value for n < 2.

    Example:
        >>> c = paired([0.5, 1.0, 1.5])
        >>> c.delta, c.p_value, c.n_pairs, c.test
        (1.0, 0.25, 3, 'sign-flip')
        >>> [round(v, 3) for v in (c.low, c.high)]
        [-0.242, 2.242]
    """
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    d = _vector(differences, "differences")
    delta = float(d.mean()) if d.size else NAN
    t_low, t_high = t_interval(d, level)
    low, high = bootstrap_interval(d, level, n_resamples) if ci == "bootstrap" else (t_low, t_high)
    # one pair: no interval and no p (a sign-flip or signed-rank p of 1.0 would only say "n = 1")
    p = {"signflip": sign_flip_p, "wilcoxon": wilcoxon_p, "t": paired_t_p}[test](d) if d.size >= 2 else NAN
    return Comparison(delta, low, high, t_low, t_high, p, int(d.size), n_a if n_a is not None else int(d.size),
                      n_b if n_b is not None else int(d.size), True,
                      "paired bootstrap" if ci == "bootstrap" else "paired t", TEST_NAMES[test])


def unpaired(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Comparison:
    """Welch comparison of two independent arms (any ``ci``/``test`` choice falls back to
    Welch's t: the paired methods need pairs).

    Args:
        a: values of arm a.
        b: values of arm b.
        level: coverage of the interval.

    Returns:
        A :class:`Comparison` (``paired=False``, ``n_pairs=0``).

    Example:
        >>> c = unpaired([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0])
        >>> c.delta, c.paired, c.interval, (c.n_a, c.n_b)
        (-3.5, False, 'Welch t', (3, 4))
    """
    delta, low, high, p = welch(a, b, level)
    return Comparison(delta, low, high, low, high, p, 0, len(a), len(b), False, "Welch t", "Welch t")


def compare(a: Sequence[tuple[int, float]], b: Sequence[tuple[int, float]], ci: str = "t", test: str = "signflip",
            level: float = 0.95, n_resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[Comparison, list[int], list[int]]:
    """Compare arm a with arm b given ``(seed, value)`` pairs (non-finite values skipped).

    Paired by seed when each arm holds each seed once and they share at least one seed
    (then unmatched seeds are dropped); else Welch. Returns the :class:`Comparison` and
    the seeds dropped from a and from b (empty when unpaired).

    Args:
        a: ``(seed, value)`` of each run of arm a.
        b: ``(seed, value)`` of each run of arm b.
        ci, test, level, n_resamples: as in :func:`paired`.

    Returns:
        ``(comparison, seeds dropped from a, seeds dropped from b)``.

    Example:
        >>> c, drop_a, drop_b = compare([(0, 50.0), (1, 51.0), (2, 52.5)], [(0, 49.0), (1, 50.5), (3, 48.0)])
        >>> c.paired, c.n_pairs, c.delta, drop_a, drop_b  # d = (1.0, 0.5) on seeds 0 and 1
        (True, 2, 0.75, [2], [3])
    """
    a = [(int(s), float(v)) for s, v in a if v is not None and math.isfinite(float(v))]
    b = [(int(s), float(v)) for s, v in b if v is not None and math.isfinite(float(v))]
    seeds_a, seeds_b = [s for s, _ in a], [s for s, _ in b]
    unique = len(set(seeds_a)) == len(seeds_a) and len(set(seeds_b)) == len(seeds_b)
    shared = sorted(set(seeds_a) & set(seeds_b))
    if not unique or not shared:
        return unpaired([v for _, v in a], [v for _, v in b], level), [], []
    va, vb = dict(a), dict(b)
    diffs = [va[s] - vb[s] for s in shared]
    result = paired(diffs, ci, test, level, n_resamples, n_a=len(a), n_b=len(b))
    return result, sorted(set(seeds_a) - set(shared)), sorted(set(seeds_b) - set(shared))


def seeds_needed(effect: float, sd_diff: float, level: float = 0.95, power: float = 0.8, max_n: int = 1000) -> int:
    """Smallest number of paired seeds n for which a two-sided paired t-test at
    1 − ``level`` detects a true mean difference ``effect`` with probability ``power``,
    given the standard deviation ``sd_diff`` of the per-seed differences (noncentral t).
    Raises ValueError for a non-positive effect or spread.

    Args:
        effect: the true mean difference to detect (units of the metric).
        sd_diff: standard deviation of the per-seed differences (same units).
        level: 1 − significance level of the test.
        power: required probability of detection.
        max_n: give up (ValueError) beyond this many seeds.

    Returns:
        The number of seeds n ≥ 2.

    Example:
        >>> seeds_needed(1.0, 1.0), seeds_needed(0.5, 1.0)
        (10, 34)
    """
    if not effect > 0 or not sd_diff > 0:
        raise ValueError(f"effect and sd_diff must be positive, got {effect}, {sd_diff}")
    for n in range(2, max_n + 1):
        df = n - 1
        crit = t_quantile(level, df)
        nc = effect / (sd_diff / math.sqrt(n))
        achieved = float(sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc))
        if achieved >= power:
            return n
    raise ValueError(f"more than {max_n} seeds needed for effect {effect} with spread {sd_diff}")
