"""The report's tables as text: formatted cells, the per-group summary, the comparison
table, the per-seed table of one group, and markdown (docs/report.md)."""
from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from flexseg.report.aggregation import metric_order
from flexseg.report.results import REAL_AVERAGES, SYNTH_AVERAGES
from flexseg.utils.tables import markdown_table

__all__ = ["comparison_table", "fmt_delta_ci", "fmt_mean_std", "fmt_p", "group_table", "summary_table", "to_markdown"]


def fmt_delta_ci(delta: float, low: float, high: float, digits: int = 2) -> str:
    """A difference with its interval, as in the tables.

    Args:
        delta: the difference (percent points).
        low: lower end of its interval (NaN without one).
        high: upper end of its interval (NaN without one).
        digits: decimals.

    Returns:
        ``"+1.48 [+0.20, +2.76]"``; without an interval (n < 2) ``"+1.48"``; NaN Δ → ``—``.

    Example:
        >>> fmt_delta_ci(1.4812, -1.2866, 4.2449), fmt_delta_ci(1.5, float("nan"), float("nan"))
        ('+1.48 [-1.29, +4.24]', '+1.50')
    """
    if delta is None or math.isnan(delta):
        return "—"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{delta:+.{digits}f}"
    return f"{delta:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def fmt_p(p: float) -> str:
    """A p-value with 2 significant digits.

    Args:
        p: the p-value (NaN without one).

    Returns:
        ``0.25``, ``0.031``, ``0.0020``, ``<1e-4``; NaN → ``—``.

    Example:
        >>> [fmt_p(p) for p in (0.25, 0.0625, 2 / 1024, 1e-6, float("nan"))]
        ['0.25', '0.062', '0.002', '<1e-4', '—']
    """
    if p is None or math.isnan(p):
        return "—"
    if p < 1e-4:
        return "<1e-4"
    return f"{p:.2g}" if p < 0.1 else f"{p:.2f}"


def comparison_table(comps: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The comparisons as a markdown-ready table (per-domain accuracies left out).

    Args:
        comps: :func:`~flexseg.report.compare.comparisons`.
        level: confidence level of the intervals (for the column name).

    Returns:
        One row per (group, metric): ``group``, ``baseline``, ``metric``,
        ``Δ [95 % CI]`` (the chosen interval), ``p``, ``n`` (pairs, or ``a+b`` runs when
        unpaired), ``interval``, ``test``.

    Example:
        >>> comps = pd.DataFrame([{"group": "flex", "baseline": "off", "metric": "mean", "delta": 1.0, "low": -0.24,
        ...                        "high": 2.24, "p_value": 0.25, "n_pairs": 3, "n": 3, "n_base": 3,
        ...                        "interval": "paired t", "test": "sign-flip"}])
        >>> comparison_table(comps).iloc[0].tolist()
        ['flex', 'off', 'mean', '+1.00 [-0.24, +2.24]', '0.25', '3', 'paired t', 'sign-flip']
    """
    rows = []
    for r in comps[~comps["metric"].str.contains("/")].itertuples(index=False):
        n = str(r.n_pairs) if r.interval.startswith("paired") else f"{r.n}+{r.n_base}"
        rows.append({"group": r.group, "baseline": r.baseline, "metric": r.metric,
                     f"Δ [{100 * level:g} % CI]": fmt_delta_ci(r.delta, r.low, r.high), "p": fmt_p(r.p_value),
                     "n": n, "interval": r.interval, "test": r.test})
    return pd.DataFrame(rows)


def fmt_mean_std(mean: float, std: float, n: int, digits: int = 2) -> str:
    """A group's mean ± sample std, as in the tables.

    Args:
        mean: the mean (percent).
        std: the sample std (NaN for one run).
        n: the number of runs.
        digits: decimals.

    Returns:
        ``"48.58 ± 0.12"``; a single run prints the mean only; NaN mean → ``—``.

    Example:
        >>> fmt_mean_std(48.581, 0.1234, 3), fmt_mean_std(48.581, float("nan"), 1), fmt_mean_std(float("nan"), 0.0, 0)
        ('48.58 ± 0.12', '48.58', '—')
    """
    if mean is None or math.isnan(mean):
        return "—"
    if n > 1 and not math.isnan(std):
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"{mean:.{digits}f}"


def summary_table(agg: pd.DataFrame, comps: pd.DataFrame | None = None) -> pd.DataFrame:
    """The report's main table (``report.md`` / ``report.csv``), one row per group.

    Args:
        agg: :func:`~flexseg.report.aggregation.aggregate`, with
            :func:`~flexseg.report.aggregation.with_deltas` when there is a baseline.
        comps: :func:`~flexseg.report.compare.comparisons`, or ``None``.

    Returns:
        ``group``, ``n``, then per metric ``mean ± std`` strings (per-domain accuracies
        left out), then, with deltas, ``Δ <main average>`` columns (Avg2/Avg3/Avg5 or
        mean/adverse, and boundary_acc) and ``baseline`` (``(this)`` for a baseline).
        With ``comps`` the Δ cells read ``Δ [low, high]`` (Δ and interval of the
        comparison, i.e. paired by seed when possible) and ``pairs`` / ``test`` columns
        say how many seed pairs and which methods were used.

    Example:
        >>> agg = pd.DataFrame({"group": ["off", "flex"], "metric": ["mean", "mean"], "mean": [40.0, 41.5],
        ...                     "std": [1.0, 0.5], "n": [3, 3], "baseline": ["off", "off"], "delta": [0.0, 1.5]})
        >>> summary_table(agg).values.tolist()
        [['off', 3, '40.00 ± 1.00', '+0.00', '(this)'], ['flex', 3, '41.50 ± 0.50', '+1.50', 'off']]
    """
    comp = comps.set_index(["group", "metric"]) if comps is not None and not comps.empty else None
    metrics = [m for m in metric_order(agg["metric"].unique()) if "/" not in m]
    rows = []
    for group, sub in agg.groupby("group", sort=False):
        by = sub.set_index("metric")
        row: dict[str, Any] = {"group": group, "n": int(by["n"].max())}
        for m in metrics:
            if m in by.index:
                row[m] = fmt_mean_std(by.at[m, "mean"], by.at[m, "std"], int(by.at[m, "n"]))
        if "delta" in by.columns and by["baseline"].iloc[0]:
            main = [a for a in (*REAL_AVERAGES, *SYNTH_AVERAGES, "boundary_acc") if a in by.index]
            for m in main:
                d = by.at[m, "delta"]
                if comp is not None and (group, m) in comp.index:
                    c = comp.loc[(group, m)]
                    row[f"Δ {m}"] = fmt_delta_ci(c["delta"], c["low"], c["high"])
                else:
                    row[f"Δ {m}"] = "—" if math.isnan(d) else f"{d:+.2f}"
            row["baseline"] = "(this)" if by["baseline"].iloc[0] == group else by["baseline"].iloc[0]
            if comp is not None:
                c = comp.loc[(group, main[0])] if main and (group, main[0]) in comp.index else None
                row["pairs"] = "" if c is None else (str(c["n_pairs"]) if c["interval"].startswith("paired") else "0")
                row["test"] = "" if c is None else f"{c['interval']}, p: {c['test']}"
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub markdown table of ``df`` (no tabulate dependency).

    Args:
        df: any table; NaN/None cells read ``—``.

    Returns:
        The table, ending in a newline.

    Example:
        >>> print(to_markdown(pd.DataFrame({"a": [1], "b": [float("nan")]})), end="")
        | a | b |
        |---|---|
        | 1 | — |
    """
    return markdown_table(list(df.columns), df.itertuples(index=False))


def _slug(group: str) -> str:
    """A file name for a group label (``groups/<slug>.md``)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", group).strip("_")[:120] or "defaults"


def group_table(frame: pd.DataFrame, group: str) -> pd.DataFrame:
    """The per-seed table of one group (``groups/<group>.md|csv``).

    Args:
        frame: :func:`~flexseg.report.aggregation.runs_frame`.
        group: a group label of ``frame``.

    Returns:
        One row per run (``seed`` and every metric with a value, per-domain accuracies
        left out, rounded to 2 digits) plus a last row ``mean ± std (n=…)``.

    Example:
        >>> frame = pd.DataFrame({"group": ["g", "g"], "seed": [0, 1], "path": ["a", "b"], "clear": [40.0, 42.0]})
        >>> group_table(frame, "g").values.tolist()
        [['0', '40.00'], ['1', '42.00'], ['mean ± std (n=2)', '41.00 ± 1.41']]
    """
    sub = frame[frame["group"] == group]
    metrics = [m for m in metric_order(c for c in frame.columns if c not in ("group", "seed", "path")) if "/" not in m]
    metrics = [m for m in metrics if sub[m].notna().any()]
    rows = [{"seed": str(s), **{m: f"{v:.2f}" if not math.isnan(v) else "—" for m, v in zip(metrics, vals)}}
            for s, vals in zip(sub["seed"], sub[metrics].astype(float).itertuples(index=False))]
    stats = {m: fmt_mean_std(sub[m].mean(), sub[m].std(ddof=1), int(sub[m].notna().sum())) for m in metrics}
    rows.append({"seed": f"mean ± std (n={len(sub)})", **stats})
    return pd.DataFrame(rows)
