"""flexseg.stats against scipy's implementations and hand-computed values on fixed numbers."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from flexseg import stats

# per-seed results of two arms (percent), seeds 0..6; fixed numbers
A = [41.1, 40.9, 39.9, 41.8, 40.2, 42.0, 40.6]
B = [38.3, 40.1, 39.0, 40.2, 40.5, 39.8, 39.1]
D = [a - b for a, b in zip(A, B)]


def test_paired_t_interval_equals_scipy_ttest_rel():
    ref = sps.ttest_rel(A, B).confidence_interval(0.95)
    low, high = stats.t_interval(D)
    assert (low, high) == pytest.approx((ref.low, ref.high), rel=1e-12)
    # written out: mean ± t_{0.975, n-1} s / sqrt(n)
    n = len(D)
    half = sps.t.ppf(0.975, n - 1) * np.std(D, ddof=1) / math.sqrt(n)
    assert low == pytest.approx(np.mean(D) - half) and high == pytest.approx(np.mean(D) + half)
    ref90 = sps.ttest_rel(A, B).confidence_interval(0.90)
    assert stats.t_interval(D, 0.90) == pytest.approx((ref90.low, ref90.high), rel=1e-12)
    assert stats.paired_t_p(D) == pytest.approx(sps.ttest_rel(A, B).pvalue, rel=1e-12)


def test_t_quantile_and_mean_half_width():
    assert stats.t_quantile(0.95, 2) == pytest.approx(4.302652729911275)  # the textbook value
    assert stats.t_quantile(0.95, 9) == pytest.approx(2.262157162740992)
    assert stats.mean_half_width(2.0, 3) == pytest.approx(4.302652729911275 * 2.0 / math.sqrt(3))
    assert math.isnan(stats.mean_half_width(2.0, 1)) and math.isnan(stats.mean_half_width(float("nan"), 5))
    with pytest.raises(ValueError, match="level"):
        stats.t_quantile(95, 3)


def test_welch_equals_scipy_ttest_ind_unequal_var():
    a, b = A[:5], B[2:]  # different sizes
    ref = sps.ttest_ind(a, b, equal_var=False)
    delta, low, high, p = stats.welch(a, b)
    ci = ref.confidence_interval(0.95)
    assert delta == pytest.approx(np.mean(a) - np.mean(b))
    assert (low, high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    # one run in an arm: Δ but no interval or p
    d1, l1, h1, p1 = stats.welch(a, [40.0])
    assert d1 == pytest.approx(np.mean(a) - 40.0) and math.isnan(l1) and math.isnan(h1) and math.isnan(p1)


def test_sign_flip_exact_equals_scipy_permutation_test():
    ref = sps.permutation_test((np.array(A), np.array(B)), lambda x, y: np.mean(x - y), permutation_type="samples",
                               n_resamples=np.inf, vectorized=False)
    assert stats.sign_flip_p(D) == pytest.approx(ref.pvalue, rel=1e-12)
    # all differences positive: only σ = ±1 reach |mean| → 2 / 2^n
    assert stats.sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(0.25)
    assert stats.sign_flip_p([0.5] * 10) == pytest.approx(2 / 1024)
    assert stats.sign_flip_p([1.0, -1.0]) == pytest.approx(1.0)
    assert math.isnan(stats.sign_flip_p([]))


def test_sign_flip_random_for_large_n_is_close_to_exact_and_reproducible():
    rng = np.random.default_rng(3)
    d = rng.normal(0.3, 1.0, 18)
    exact = stats.sign_flip_p(d, exact_max_n=18)
    approx = stats.sign_flip_p(d, exact_max_n=16, n_resamples=50_000)
    assert approx == pytest.approx(exact, abs=0.01)
    assert approx == stats.sign_flip_p(d, exact_max_n=16, n_resamples=50_000)  # fixed generator seed


def test_wilcoxon_against_scipy_and_exact_counts():
    assert stats.wilcoxon_p(D) == pytest.approx(sps.wilcoxon(A, B).pvalue, rel=1e-12)
    # n = 5, all positive: W- = 0 is 1 of 32 sign patterns; two-sided 2/32
    assert stats.wilcoxon_p([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(0.0625)
    # one negative of rank 2 among 5: W- ≤ 2 for {}, {1}, {2} → 3/32, two-sided 6/32
    assert stats.wilcoxon_p([1.0, -2.0, 3.0, 4.0, 5.0]) == pytest.approx(6 / 32)
    assert stats.wilcoxon_p([0.0, 0.0]) == 1.0
    assert math.isnan(stats.wilcoxon_p([]))


def test_bootstrap_percentile_close_to_scipy_and_to_exact_enumeration():
    low, high = stats.bootstrap_interval(D)
    ref = sps.bootstrap((np.array(D),), np.mean, method="percentile", n_resamples=10_000,
                        rng=np.random.default_rng(123)).confidence_interval
    width = ref.high - ref.low
    assert low == pytest.approx(ref.low, abs=0.05 * width) and high == pytest.approx(ref.high, abs=0.05 * width)
    assert (low, high) == stats.bootstrap_interval(D)  # fixed seed: same numbers every time
    # n = 3: all 27 equally likely resamples, quantiles of their means
    d3 = [0.0, 1.0, 5.0]
    means = np.sort([np.mean(c) for c in itertools.product(d3, repeat=3)])
    lo3, hi3 = stats.bootstrap_interval(d3, n_resamples=50_000)
    # quantiles of that discrete distribution: P(mean = 0) = P(mean = 5) = 1/27 > 0.025
    assert lo3 == pytest.approx(np.quantile(means, 0.025, method="inverted_cdf")) == 0.0
    assert hi3 == pytest.approx(np.quantile(means, 0.975, method="inverted_cdf")) == 5.0
    lo90, hi90 = stats.bootstrap_interval(d3, level=0.80, n_resamples=50_000)  # 10 % and 90 % quantiles
    assert lo90 == pytest.approx(np.quantile(means, 0.10, method="inverted_cdf"))
    assert hi90 == pytest.approx(np.quantile(means, 0.90, method="inverted_cdf"))


def test_compare_pairs_by_seed_and_drops_unmatched():
    a = [(s, v) for s, v in enumerate(A)] + [(9, 50.0)]  # seed 9 only in a
    b = [(s, v) for s, v in reversed(list(enumerate(B)))] + [(7, 10.0)]  # order does not matter
    res, dropped_a, dropped_b = stats.compare(a, b)
    assert res.paired and res.n_pairs == 7 and res.n_a == 8 and res.n_b == 8
    assert dropped_a == [9] and dropped_b == [7]
    assert res.delta == pytest.approx(np.mean(D))
    ref = sps.ttest_rel(A, B).confidence_interval(0.95)
    assert (res.low, res.high) == pytest.approx((ref.low, ref.high))
    assert res.interval == "paired t" and res.test == "sign-flip"
    # pairing matters when seeds share an effect (seed spread 2, arm difference 1 ± 0.1)
    base = [38.0, 40.0, 42.0, 39.0, 41.0]
    flex = [v + 1.0 + e for v, e in zip(base, (0.1, -0.1, 0.0, 0.05, -0.05))]
    tight, _, _ = stats.compare(list(enumerate(flex)), list(enumerate(base)))
    loose = stats.unpaired(flex, base)
    assert tight.low > 0.8 and tight.high < 1.2 and loose.low < -1.0


def test_compare_falls_back_to_welch_without_shared_seeds_or_with_duplicates():
    a = [(s, v) for s, v in zip(range(0, 5), A)]
    b = [(s, v) for s, v in zip(range(10, 15), B)]
    res, da, db = stats.compare(a, b)
    ref = sps.ttest_ind(A[:5], B[:5], equal_var=False)
    assert not res.paired and res.interval == "Welch t" and res.test == "Welch t" and res.n_pairs == 0
    assert (res.low, res.high) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert res.p_value == pytest.approx(ref.pvalue)
    assert da == [] and db == []
    dup, _, _ = stats.compare([(0, 1.0), (0, 2.0), (1, 3.0)], [(0, 1.0), (1, 1.0)])
    assert not dup.paired


def test_fewer_than_two_pairs_gives_no_interval():
    res, _, _ = stats.compare([(0, 42.0), (1, 41.0)], [(0, 40.0), (2, 39.0)])
    assert res.paired and res.n_pairs == 1 and res.delta == pytest.approx(2.0)
    assert math.isnan(res.low) and math.isnan(res.high) and math.isnan(res.t_low) and math.isnan(res.p_value)
    boot = stats.paired([2.0], ci="bootstrap")
    assert math.isnan(boot.low) and boot.interval == "paired bootstrap"
    empty = stats.paired([])
    assert empty.n_pairs == 0 and math.isnan(empty.delta) and math.isnan(empty.p_value)
    nan_skipped, _, _ = stats.compare([(0, float("nan")), (1, 41.0)], [(0, 40.0), (1, 40.0)])
    assert nan_skipped.n_pairs == 1


def test_bad_options_are_errors():
    with pytest.raises(ValueError, match="ci must be"):
        stats.paired([1.0, 2.0], ci="bca")
    with pytest.raises(ValueError, match="test must be"):
        stats.paired([1.0, 2.0], test="mann-whitney")
    with pytest.raises(ValueError, match="finite"):
        stats.t_interval([1.0, float("inf")])


def test_seeds_needed_matches_a_simulated_power():
    # spread of per-seed differences 1.0 point, effect 1.0 point
    n = stats.seeds_needed(1.0, 1.0)
    assert n == 10  # noncentral t: power(9) < 0.8 <= power(10)
    rng = np.random.default_rng(0)
    sims = rng.normal(1.0, 1.0, size=(20_000, n))
    power = np.mean(sps.ttest_1samp(sims, 0.0, axis=1).pvalue < 0.05)
    assert power == pytest.approx(0.8, abs=0.015)
    assert stats.seeds_needed(1.5, 0.5) < stats.seeds_needed(1.5, 1.0)
    with pytest.raises(ValueError):
        stats.seeds_needed(0.0, 1.0)
