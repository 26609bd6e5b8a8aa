"""Every metric against a swept config value (``--x KEY``, e.g. ``data.misalignment_px``).

Runs are grouped without ``KEY`` (one line per group in the plots); at each value of
``KEY`` every group is compared with the closest baseline *at that value*, paired by seed
(docs/report.md, docs/statistics.md).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from flexseg import stats
from flexseg.report.aggregation import _stats, metric_order, runs_frame
from flexseg.report.baselines import _closest_baselines
from flexseg.report.compare import COMPARISON_COLUMNS, comparisons
from flexseg.report.discovery import DEFAULT_IGNORED, Run
from flexseg.report.tables import fmt_mean_std

__all__ = ["versus_comparisons", "versus_frame", "versus_table"]


def versus_frame(runs: Sequence[Run], key: str, ignore: Sequence[str] = DEFAULT_IGNORED) -> pd.DataFrame:
    """Long table of a sweep over the config value ``key``.

    Args:
        runs: the runs of a report; each must have ``key`` in its composed config.
        key: a dotted config key, e.g. ``data.misalignment_px``.
        ignore: override keys (or ``prefix.*``) that never define a group (``key`` is
            added: groups are formed without it).

    Returns:
        One row per (group without ``key``, value of ``key``, metric): ``group``, ``key``,
        ``metric``, ``mean``, ``std`` (ddof = 1), ``n``, in percent; sorted by group,
        then value.

    Raises:
        ValueError: a run has no ``key`` in its config (the message names it).

    Example:
        >>> from pathlib import Path
        >>> runs = [Run(Path(f"{px}/{s}"), {"miou": {"clear": v}}, {"px": str(px)}, {"seed": s, "px": px})
        ...         for px, s, v in ((0, 0, 0.5), (0, 1, 0.52), (4, 0, 0.4), (4, 1, 0.44))]
        >>> versus_frame(runs, "px").query("metric == 'clear'").round(6).values.tolist()
        [['(defaults)', 0, 'clear', 51.0, 1.414214, 2], ['(defaults)', 4, 'clear', 42.0, 2.828427, 2]]
    """
    missing = [str(r.path) for r in runs if key not in r.config]
    if missing:
        raise ValueError(f"--x {key}: not a config key of {missing[0]} (and {len(missing) - 1} more)")
    frame = runs_frame(runs, (*ignore, key))
    frame.insert(1, key, [r.config[key] for r in runs])
    metrics = metric_order([c for c in frame.columns if c not in ("group", "seed", "path", key)])
    rows = []
    for (group, x), sub in frame.groupby(["group", key], sort=False):
        rows += [{"group": group, key: x, "metric": m, **_stats(sub[m])} for m in metrics]
    out = pd.DataFrame(rows, columns=["group", key, "metric", "mean", "std", "n"])
    return out.sort_values(["group", key], kind="stable").reset_index(drop=True)


def versus_comparisons(runs: Sequence[Run], key: str, baseline: Mapping[str, Any] | None = None,
                       ignore: Sequence[str] = DEFAULT_IGNORED, ci: str = "t", test: str = "signflip",
                       level: float = 0.95, n_resamples: int = stats.BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    """:func:`~flexseg.report.compare.comparisons` at each value of a swept config value.

    Every group (labels as in :func:`versus_frame`) is compared with the closest baseline
    group *at the same value* of ``key``, paired by seed.

    Args:
        runs: the runs of a report; each must have ``key`` in its composed config.
        key: a dotted config key, e.g. ``data.misalignment_px``.
        baseline: ``key → value`` of the baseline's runs (``None``: GAP, UBE, HAS off).
        ignore: override keys (or ``prefix.*``) that never define a group.
        ci, test, level, n_resamples: the interval of Δ, the p-value, the confidence level
            and the bootstrap resamples, as for :func:`~flexseg.report.compare.comparisons`.

    Returns:
        Columns ``key`` then :data:`~flexseg.report.compare.COMPARISON_COLUMNS`, sorted by
        group, then value; empty when no value has a baseline.

    Raises:
        ValueError: a run has no ``key`` in its config.

    Example:
        >>> from pathlib import Path
        >>> def run(px, seed, on, v):
        ...     cfg = {"seed": seed, "px": px, **{f"flex.{m}.enabled": on for m in ("gap", "ube", "has")}}
        ...     return Run(Path(f"{px}/{on}/{seed}"), {"miou": {"clear": v}}, {"px": str(px), "on": str(on)}, cfg)
        >>> runs = [run(px, s, on, 0.4 + 0.01 * s + (0.02 + 0.01 * px * s if on else 0.0))
        ...         for px in (0, 4) for on in (True, False) for s in (0, 1, 2)]
        >>> vc = versus_comparisons(runs, "px").query("metric == 'clear'")
        >>> vc[["group", "px", "baseline"]].values.tolist()
        [['on=True', 0, 'on=False'], ['on=True', 4, 'on=False']]
        >>> vc["delta"].round(6).tolist(), vc["n_pairs"].tolist()
        ([2.0, 6.0], [3, 3])
    """
    missing = [str(r.path) for r in runs if key not in r.config]
    if missing:
        raise ValueError(f"--x {key}: not a config key of {missing[0]} (and {len(missing) - 1} more)")
    frame = runs_frame(runs, (*ignore, key))
    values = [r.config[key] for r in runs]
    parts = []
    for x in dict.fromkeys(values):
        idx = [i for i, v in enumerate(values) if v == x]
        sub_runs = [runs[i] for i in idx]
        bases = _closest_baselines(sub_runs, [frame["group"].iloc[i] for i in idx], baseline)
        if bases:
            comp = comparisons(frame.iloc[idx], bases, ci, test, level, n_resamples)
            comp.insert(0, key, x)
            parts.append(comp)
    if not parts:
        return pd.DataFrame(columns=[key, *COMPARISON_COLUMNS])
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["group", key], kind="stable").reset_index(drop=True)


def versus_table(vs: pd.DataFrame, key: str) -> pd.DataFrame:
    """The sweep as a wide table (``versus_<KEY>.md|csv``).

    Args:
        vs: :func:`versus_frame`.
        key: the swept config key.

    Returns:
        One row per (group, value of ``key``), one column per metric (``mean ± std``).

    Example:
        >>> vs = pd.DataFrame({"group": ["g", "g"], "px": [0, 4], "metric": ["clear", "clear"], "mean": [51.0, 42.0],
        ...                    "std": [1.414, float("nan")], "n": [2, 1]})
        >>> versus_table(vs, "px").values.tolist()
        [['g', 0, '51.00 ± 1.41'], ['g', 4, '42.00']]
    """
    rows = []
    for (group, x), sub in vs.groupby(["group", key], sort=False):
        row: dict[str, Any] = {"group": group, key: x}
        for _, r in sub.iterrows():
            row[r["metric"]] = fmt_mean_std(r["mean"], r["std"], int(r["n"]))
        rows.append(row)
    return pd.DataFrame(rows)

