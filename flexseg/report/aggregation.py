"""Per-run metrics as one table, and each group's mean ± sample std over its runs.

Every metric is in percent; the std is the sample standard deviation (ddof = 1), NaN for
a single run; ``n`` counts the runs with a finite value (docs/report.md).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import pandas as pd

from flexseg.report.discovery import DEFAULT_IGNORED, Run, group_labels
from flexseg.report.results import REAL_AVERAGES, REAL_DOMAINS, SYNTH_AVERAGES, run_metrics

__all__ = ["aggregate", "metric_order", "runs_frame", "with_deltas"]


def runs_frame(runs: Sequence[Run], ignore: Sequence[str] = DEFAULT_IGNORED) -> pd.DataFrame:
    """One row per run.

    Args:
        runs: the runs of a report.
        ignore: override keys (or ``prefix.*``) that never define a group.

    Returns:
        Columns ``group`` (its :func:`~flexseg.report.discovery.group_labels` label),
        ``seed``, ``path`` and every :func:`~flexseg.report.results.run_metrics` column
        (percent; NaN where a run lacks the metric).

    Example:
        >>> from pathlib import Path
        >>> runs = [Run(Path("a"), {"miou": {"clear": 0.5}}, {"model": "hrda"}, {"seed": 1}),
        ...         Run(Path("b"), {"miou": {"clear": 0.4}}, {}, {"seed": 1})]
        >>> runs_frame(runs)[["group", "seed", "clear"]].values.tolist()
        [['model=hrda', 1, 50.0], ['(defaults)', 1, 40.0]]
    """
    labels = group_labels(runs, ignore)
    rows = [{"group": g, "seed": r.seed, "path": str(r.path), **run_metrics(r)} for g, r in zip(labels, runs)]
    return pd.DataFrame(rows)


def aggregate(runs: Sequence[Run], ignore: Sequence[str] = DEFAULT_IGNORED) -> pd.DataFrame:
    """Long table, one row per (group, metric).

    Args:
        runs: the runs of a report.
        ignore: override keys (or ``prefix.*``) that never define a group.

    Returns:
        Columns ``group``, ``metric``, ``mean``, ``std`` (sample, ddof = 1; NaN for a
        single run), ``n`` (runs with a finite value). Values in percent; groups in order
        of first appearance, metrics in :func:`metric_order`.

    Example:
        >>> from pathlib import Path
        >>> runs = [Run(Path(str(s)), {"miou": {"clear": v}}, {}, {"seed": s}) for s, v in ((0, 0.4), (1, 0.42), (2, 0.44))]
        >>> aggregate(runs).round(6).values.tolist()
        [['(defaults)', 'clear', 42.0, 2.0, 3], ['(defaults)', 'mean', 42.0, 2.0, 3]]
    """
    frame = runs_frame(runs, ignore)
    metrics = metric_order([c for c in frame.columns if c not in ("group", "seed", "path")])
    rows = []
    for group, sub in frame.groupby("group", sort=False):
        rows += [{"group": group, "metric": m, **_stats(sub[m])} for m in metrics]
    return pd.DataFrame(rows, columns=["group", "metric", "mean", "std", "n"])


def _stats(column: pd.Series) -> dict[str, float | int]:
    """``mean``, sample ``std`` (ddof = 1; NaN for one value) and ``n`` of the finite values."""
    values = column.dropna().astype(float)
    return {"mean": values.mean() if len(values) else float("nan"),
            "std": values.std(ddof=1) if len(values) > 1 else float("nan"), "n": int(len(values))}


def metric_order(metrics: Iterable[str]) -> list[str]:
    """The order of the metric columns and rows of every table.

    Args:
        metrics: metric names (duplicates dropped).

    Returns:
        Real domains in the paper's order, then the other domains as given, the averages
        (Avg2/Avg3/Avg5, mean, adverse), then the accuracies (overall before per-domain).

    Example:
        >>> metric_order(["boundary_acc/fog", "mean", "fog", "MV", "boundary_acc", "ACDC", "clear"])
        ['ACDC', 'MV', 'fog', 'clear', 'mean', 'boundary_acc', 'boundary_acc/fog']
    """
    metrics = list(dict.fromkeys(metrics))
    real = [d for d in REAL_DOMAINS if d in metrics]
    avgs = [a for a in (*REAL_AVERAGES, *SYNTH_AVERAGES) if a in metrics]
    acc = [m for m in metrics if m.startswith(("boundary_acc", "interior_acc"))]
    acc = sorted(acc, key=lambda m: (m.count("/"), m))
    domains = [m for m in metrics if m not in real and m not in avgs and m not in acc]
    return real + domains + avgs + acc


def with_deltas(agg: pd.DataFrame, baselines: Mapping[str, str]) -> pd.DataFrame:
    """:func:`aggregate` plus the difference of each group's mean from its baseline's.

    Args:
        agg: the :func:`aggregate` table.
        baselines: group → baseline group
            (:func:`~flexseg.report.baselines.assign_baselines`).

    Returns:
        A copy with ``baseline`` (``""`` for a group without one) and ``delta`` (group
        mean − baseline mean, percent points; NaN without a baseline or its metric).

    Example:
        >>> agg = pd.DataFrame({"group": ["off", "flex"], "metric": ["mean", "mean"], "mean": [40.0, 41.5],
        ...                     "std": [1.0, 1.0], "n": [3, 3]})
        >>> with_deltas(agg, {"off": "off", "flex": "off"})[["group", "baseline", "delta"]].values.tolist()
        [['off', 'off', 0.0], ['flex', 'off', 1.5]]
    """
    means = agg.set_index(["group", "metric"])["mean"]
    out = agg.copy()
    out["baseline"] = [baselines.get(g, "") for g in out["group"]]
    out["delta"] = [
        mean - means.get((baselines[g], m), float("nan")) if g in baselines else float("nan")
        for g, m, mean in zip(out["group"], out["metric"], out["mean"])
    ]
    return out
