"""Each group against its baseline, paired by seed (docs/statistics.md, :mod:`flexseg.stats`).

Δ = mean of the per-seed differences over the seeds both groups have (the others dropped
with a warning), with its interval (``ci="t"``: Student t, default; ``"bootstrap"``:
percentile) and p-value (``test="signflip"``: exact sign-flip, default; ``"wilcoxon"``;
``"t"``); Welch's t when the groups share no seed or a seed occurs twice in a group; no
interval below 2 pairs. Besides every metric, the :data:`CONTRASTS` are compared per run.
"""
from __future__ import annotations

import logging
from typing import Mapping

import pandas as pd

from flexseg import stats
from flexseg.report.aggregation import metric_order

__all__ = ["COMPARISON_COLUMNS", "CONTRASTS", "comparisons", "with_comparisons", "with_contrasts"]

log = logging.getLogger(__name__)

#: Contrasts tested per run besides the metrics: value = first − second (percent points),
#: so their Δ is the difference of the two Δs (e.g. "is the gain larger under adverse
#: conditions?": Δ(adverse − clear) = Δ adverse − Δ clear).
#: ``adverse_phys − …``: the physically modelled adverse domains of synthdrive (issue 30,
#: experiments/synthdrive_adverse.md), present only in runs that test them.
CONTRASTS: dict[str, tuple[str, str]] = {"adverse − clear": ("adverse", "clear"), "Avg2 − Avg3": ("Avg2", "Avg3"),
                                         "adverse_phys − clear": ("adverse_phys", "clear"),
                                         "adverse_phys − adverse": ("adverse_phys", "adverse")}
COMPARISON_COLUMNS = ["group", "baseline", "metric", "delta", "low", "high", "ci_low", "ci_high", "p_value",
                      "n_pairs", "n", "n_base", "interval", "test"]


def with_contrasts(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-run contrasts added to a runs table.

    Args:
        frame: :func:`~flexseg.report.aggregation.runs_frame` (one row per run).

    Returns:
        A copy with one column per :data:`CONTRASTS` entry whose two metrics are both
        present (first − second, percent points).

    Example:
        >>> frame = pd.DataFrame({"clear": [50.0, 52.0], "adverse": [40.0, 45.0]})
        >>> with_contrasts(frame)["adverse − clear"].tolist()
        [-10.0, -7.0]
    """
    out = frame.copy()
    for name, (first, second) in CONTRASTS.items():
        if first in out.columns and second in out.columns:
            out[name] = out[first] - out[second]
    return out


def comparisons(frame: pd.DataFrame, baselines: Mapping[str, str], ci: str = "t", test: str = "signflip",
                level: float = 0.95, n_resamples: int = stats.BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    """Every group against its baseline, per metric and per :data:`CONTRASTS` entry.

    Uses :func:`flexseg.stats.compare`: paired by seed when both groups share seeds
    (seeds without a partner dropped, with a warning), else Welch (also when a seed occurs
    twice in a group).

    Args:
        frame: :func:`~flexseg.report.aggregation.runs_frame`.
        baselines: group → baseline group; the baselines themselves are left out.
        ci: interval of Δ, ``"t"`` or ``"bootstrap"`` (:data:`flexseg.stats.CI_METHODS`).
        test: p-value, ``"signflip"``, ``"wilcoxon"`` or ``"t"`` (:data:`flexseg.stats.TESTS`).
        level: confidence level of the intervals.
        n_resamples: bootstrap resamples.

    Returns:
        One row per (group, metric), columns :data:`COMPARISON_COLUMNS`: ``delta`` (mean
        paired difference, or difference of means when unpaired; percent points),
        ``low``/``high`` (the ``ci`` interval), ``ci_low``/``ci_high`` (the t interval:
        paired t, or Welch), ``p_value`` (``test``; Welch's when unpaired), ``n_pairs``
        (0 unpaired), ``n``/``n_base`` (runs with a value), ``interval`` and ``test``
        (names of the methods used).

    Example:
        >>> frame = pd.DataFrame({"group": ["off"] * 3 + ["flex"] * 3, "seed": [0, 1, 2] * 2,
        ...                       "mean": [40.0, 41.0, 42.0, 40.5, 42.5, 43.0]})
        >>> row = comparisons(frame, {"off": "off", "flex": "off"}).iloc[0]
        >>> row["metric"], float(row["delta"]), int(row["n_pairs"]), float(row["p_value"]), row["interval"]
        ('mean', 1.0, 3, 0.25, 'paired t')
    """
    frame = with_contrasts(frame)
    metrics = metric_order([c for c in frame.columns if c not in ("group", "seed", "path", *CONTRASTS)])
    metrics += [c for c in CONTRASTS if c in frame.columns]
    rows = []
    for group, base in baselines.items():
        if group == base:
            continue
        sub, ref = frame[frame["group"] == group], frame[frame["group"] == base]
        seeds, base_seeds = list(sub["seed"]), list(ref["seed"])
        if len(set(seeds)) < len(seeds) or len(set(base_seeds)) < len(base_seeds):
            log.warning("%s vs %s: a seed occurs twice in a group, so runs cannot be paired by seed: "
                        "Welch's unpaired t instead", group, base)
        elif set(seeds) & set(base_seeds) and set(seeds) != set(base_seeds):
            lonely = [f"{sorted(set(x) - set(y))} of {name}" for x, y, name in
                      ((seeds, base_seeds, group), (base_seeds, seeds, base)) if set(x) - set(y)]
            log.warning("%s vs %s: seeds %s have no partner: dropped from the paired comparison",
                        group, base, " and ".join(lonely))
        elif not set(seeds) & set(base_seeds):
            log.warning("%s vs %s share no seed: Welch's unpaired t", group, base)
        for m in metrics:
            res, _, _ = stats.compare(list(zip(sub["seed"], sub[m])), list(zip(ref["seed"], ref[m])), ci, test, level,
                                      n_resamples)
            rows.append({"group": group, "baseline": base, "metric": m, "delta": res.delta, "low": res.low,
                         "high": res.high, "ci_low": res.t_low, "ci_high": res.t_high, "p_value": res.p_value,
                         "n_pairs": res.n_pairs, "n": res.n_a, "n_base": res.n_b, "interval": res.interval,
                         "test": res.test})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def with_comparisons(agg: pd.DataFrame, comps: pd.DataFrame) -> pd.DataFrame:
    """The comparison's numbers added to the per-group table (→ ``metrics_long.csv``).

    Args:
        agg: :func:`~flexseg.report.aggregation.with_deltas` of the aggregate table.
        comps: :func:`comparisons`.

    Returns:
        A copy with ``ci_low``/``ci_high`` (the t interval of the comparison at its
        level, 95 % by default: paired t, or Welch when the groups share no seed),
        ``p_value``, ``n_pairs`` (0 when unpaired or for a baseline row),
        ``delta_paired`` (the interval's centre: the mean paired difference, = ``delta``
        when every seed has a partner; the difference of means when unpaired),
        ``interval`` and ``test``. Baseline rows and groups without a baseline: NaN / empty.

    Example:
        >>> agg = pd.DataFrame({"group": ["off", "flex"], "metric": ["mean", "mean"], "delta": [0.0, 1.0]})
        >>> comps = pd.DataFrame({"group": ["flex"], "metric": ["mean"], "delta": [1.0], "ci_low": [-0.5],
        ...                       "ci_high": [2.5], "p_value": [0.25], "n_pairs": [3], "interval": ["paired t"],
        ...                       "test": ["sign-flip"]})
        >>> with_comparisons(agg, comps)[["group", "ci_low", "n_pairs", "interval"]].values.tolist()
        [['off', nan, 0, ''], ['flex', -0.5, 3, 'paired t']]
    """
    out = agg.copy()
    key = comps.set_index(["group", "metric"]) if not comps.empty else None
    cols = {"ci_low": "ci_low", "ci_high": "ci_high", "p_value": "p_value", "n_pairs": "n_pairs",
            "delta_paired": "delta", "interval": "interval", "test": "test"}
    for col, src in cols.items():
        values = []
        for g, m in zip(out["group"], out["metric"]):
            hit = key is not None and (g, m) in key.index
            default = 0 if col == "n_pairs" else ("" if col in ("interval", "test") else float("nan"))
            values.append(key.at[(g, m), src] if hit else default)
        out[col] = values
    out["n_pairs"] = out["n_pairs"].astype(int)
    return out
