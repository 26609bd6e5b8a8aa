"""The report's plots (matplotlib, Agg backend, imported when a plot is drawn).

``miou_by_domain.png``: grouped bars, error bars = t interval of each group's mean;
``deltas.png``: Δ vs the baseline with the comparison's interval; with ``--x KEY``,
``versus_<KEY>.png`` (every metric against the swept value) and ``versus_<KEY>_delta.png``
(Δ against the swept value). See docs/report.md.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from flexseg import stats
from flexseg.report.aggregation import metric_order
from flexseg.report.compare import CONTRASTS
from flexseg.report.results import REAL_AVERAGES, SYNTH_AVERAGES

__all__ = ["plot_deltas", "plot_domains", "plot_versus", "plot_versus_deltas"]


def _ci_half_widths(std: Iterable[float], n: Iterable[int], level: float = 0.95) -> list[float]:
    """t-interval half widths of group means, t_{n−1} · std / √n (0 where there is no
    interval: n < 2 or NaN std); the error bars of the plots."""
    out = []
    for s_, n_ in zip(std, n):
        n_ = 0 if n_ is None or (isinstance(n_, float) and math.isnan(n_)) else int(n_)
        half = stats.mean_half_width(s_, n_, level)
        out.append(0.0 if math.isnan(half) else half)
    return out


def plot_domains(agg: pd.DataFrame, path: Path, level: float = 0.95) -> Path:
    """``miou_by_domain.png``: grouped bars of each group's mean mIoU.

    x = domains and averages, one bar per group, error bars = the t interval of the group
    mean (t_{n−1} · std / √n; none for a single run).

    Args:
        agg: :func:`~flexseg.report.aggregation.aggregate`.
        path: the PNG file to write.
        level: confidence level of the error bars.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = [m for m in metric_order(agg["metric"].unique()) if "/" not in m and not m.endswith("_acc")]
    groups = list(dict.fromkeys(agg["group"]))
    table = agg.set_index(["group", "metric"])
    x = np.arange(len(metrics))
    width = 0.8 / max(1, len(groups))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(metrics) + 0.25 * len(groups)), 4.5))
    for i, g in enumerate(groups):
        mean = [table["mean"].get((g, m), np.nan) for m in metrics]
        std = [table["std"].get((g, m), np.nan) for m in metrics]
        n = [table["n"].get((g, m), 0) for m in metrics]
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, mean, width, yerr=_ci_half_widths(std, n, level), capsize=2,
               label=g if len(g) < 60 else g[:57] + "…")
    ax.set_xticks(x, metrics)
    ax.set_ylabel("mIoU (%)")
    ax.set_title(f"mIoU per domain (mean over seeds, {100 * level:g} % CI of the mean)")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_deltas(agg: pd.DataFrame, path: Path, comps: pd.DataFrame | None = None, level: float = 0.95) -> Path | None:
    """``deltas.png``: horizontal bars of Δ vs the baseline of the main averages per group.

    Args:
        agg: :func:`~flexseg.report.aggregation.with_deltas` of the aggregate table.
        path: the PNG file to write.
        comps: :func:`~flexseg.report.compare.comparisons`; when given, the bars show its
            Δ (paired by seed when possible) with its interval as error bar.
        level: confidence level (for the axis label).

    Returns:
        ``path``, or ``None`` (nothing written) when no group has a Δ.

    Example:
        >>> plot_deltas(pd.DataFrame({"group": ["g"], "metric": ["mean"]}), Path("unused.png")) is None
        True
    """
    if "delta" not in agg.columns:
        return None
    keys = [m for m in (*REAL_AVERAGES, *SYNTH_AVERAGES) if m in set(agg["metric"])]
    sub = agg[agg["metric"].isin(keys) & agg["delta"].notna() & (agg["group"] != agg["baseline"])]
    if sub.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = list(dict.fromkeys(sub["group"]))
    table = sub.set_index(["group", "metric"])["delta"]
    comp = comps.set_index(["group", "metric"]) if comps is not None and not comps.empty else None
    y = np.arange(len(groups))
    height = 0.8 / len(keys)
    fig, ax = plt.subplots(figsize=(7.0, 1.0 + 0.5 * len(groups) * max(1, len(keys)) ** 0.5))
    for i, m in enumerate(keys):
        if comp is not None:
            found = [(g, m) in comp.index for g in groups]
            delta = [comp.at[(g, m), "delta"] if f else np.nan for g, f in zip(groups, found)]
            low = [comp.at[(g, m), "low"] if f else np.nan for g, f in zip(groups, found)]
            high = [comp.at[(g, m), "high"] if f else np.nan for g, f in zip(groups, found)]
            err = np.nan_to_num(np.array([np.subtract(delta, low), np.subtract(high, delta)], dtype=float))
            ax.barh(y + (i - (len(keys) - 1) / 2) * height, delta, height, xerr=err, capsize=2, label=m)
        else:
            ax.barh(y + (i - (len(keys) - 1) / 2) * height, [table.get((g, m), np.nan) for g in groups], height, label=m)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, [g if len(g) < 50 else g[:47] + "…" for g in groups], fontsize="x-small")
    ax.set_xlabel("Δ mIoU vs baseline (percent points)"
                  + (f", {100 * level:g} % CI of the difference" if comp is not None else ""))
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_versus(vs: pd.DataFrame, key: str, path: Path, level: float = 0.95) -> Path:
    """``versus_<KEY>.png``: every metric against the swept value ``key``.

    One panel per domain and average, one line per group, error bars = t interval of the
    mean over seeds.

    Args:
        vs: :func:`~flexseg.report.versus.versus_frame`.
        key: the swept config key.
        path: the PNG file to write.
        level: confidence level of the error bars.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in metric_order(vs["metric"].unique()) if "/" not in m]
    groups = list(dict.fromkeys(vs["group"]))
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows + 0.6), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        for g in groups:
            sub = vs[(vs["group"] == g) & (vs["metric"] == m)]
            ax.errorbar(sub[key].astype(float), sub["mean"], yerr=_ci_half_widths(sub["std"], sub["n"], level),
                        marker="o", capsize=2, label=g if len(g) < 50 else g[:47] + "…")
        ax.set_title(m, fontsize="small")
        ax.set_xlabel(key, fontsize="x-small")
        ax.set_ylabel("%" if m.endswith("_acc") else "mIoU (%)", fontsize="x-small")
        ax.grid(alpha=0.3)
    return _save_panels(fig, axes, len(metrics), path)


def plot_versus_deltas(vc: pd.DataFrame, key: str, path: Path, level: float = 0.95) -> Path | None:
    """``versus_<KEY>_delta.png``: Δ vs the baseline against the swept value ``key``.

    One panel per main average (and ``adverse − clear`` / ``Avg2 − Avg3``), one line per
    group, error bars = the comparison's interval.

    Args:
        vc: :func:`~flexseg.report.versus.versus_comparisons`.
        key: the swept config key.
        path: the PNG file to write.
        level: confidence level (for the axis labels).

    Returns:
        ``path``, or ``None`` (nothing written) without comparisons.

    Example:
        >>> plot_versus_deltas(pd.DataFrame(columns=["px", "group", "metric"]), "px", Path("unused.png")) is None
        True
    """
    keys = [m for m in (*REAL_AVERAGES, *SYNTH_AVERAGES, "clear", *CONTRASTS, "boundary_acc")
            if m in set(vc["metric"])]
    if vc.empty or not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows + 0.6), squeeze=False)
    for ax, m in zip(axes.flat, keys):
        for g in dict.fromkeys(vc["group"]):
            sub = vc[(vc["group"] == g) & (vc["metric"] == m)]
            delta, low, high = (sub[c].to_numpy(float) for c in ("delta", "low", "high"))
            err = np.nan_to_num(np.array([delta - low, high - delta]))
            ax.errorbar(sub[key].astype(float), delta, yerr=err, marker="o", capsize=2,
                        label=g if len(g) < 50 else g[:47] + "…")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title(f"Δ {m}", fontsize="small")
        ax.set_xlabel(key, fontsize="x-small")
        ax.set_ylabel(f"Δ (points, {100 * level:g} % CI)", fontsize="x-small")
        ax.grid(alpha=0.3)
    return _save_panels(fig, axes, len(keys), path)


def _save_panels(fig: Any, axes: Any, used: int, path: Path) -> Path:
    """Hide the panels after the first ``used``, add one legend below them (from the first
    panel), save ``fig`` to ``path`` and close it."""
    import matplotlib.pyplot as plt

    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize="x-small")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

