"""Writing a report folder: every table and plot of a set of runs (docs/report.md)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from flexseg import stats
from flexseg.report.aggregation import aggregate, runs_frame, with_deltas
from flexseg.report.baselines import assign_baselines
from flexseg.report.compare import comparisons, with_comparisons
from flexseg.report.discovery import DEFAULT_IGNORED, Run, common_overrides
from flexseg.report.plots import plot_deltas, plot_domains, plot_versus, plot_versus_deltas
from flexseg.report.tables import _slug, comparison_table, group_table, summary_table, to_markdown
from flexseg.report.versus import versus_comparisons, versus_frame, versus_table

__all__ = ["write_report", "write_versus"]

log = logging.getLogger(__name__)


def write_report(runs: Sequence[Run], out: Path, baseline: Mapping[str, Any] | None = None,
                 ignore: Sequence[str] = DEFAULT_IGNORED, ci: str = "t", test: str = "signflip",
                 level: float = 0.95, n_resamples: int = stats.BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    """Write every table and plot of ``runs`` to ``out`` (the files: docs/report.md).

    ``report.md|csv``, ``runs.csv``, ``metrics_long.csv``, ``groups/<group>.md|csv``,
    ``miou_by_domain.png`` and, when there is a baseline, ``comparisons.md|csv`` and
    ``deltas.png``. A ``baseline`` that matches no group is logged as a warning (no deltas).

    Args:
        runs: the runs (:func:`~flexseg.report.discovery.load_runs`).
        out: output folder (created).
        baseline: ``key → value`` of the baseline's runs (``None``: GAP, UBE, HAS off).
        ignore: override keys (or ``prefix.*``) that never define a group.
        ci, test, level, n_resamples: the interval of Δ, the p-value, the confidence level
            and the bootstrap resamples, as for :func:`~flexseg.report.compare.comparisons`.

    Returns:
        The summary table (:func:`~flexseg.report.tables.summary_table`).
    """
    out.mkdir(parents=True, exist_ok=True)
    frame = runs_frame(runs, ignore)
    agg = aggregate(runs, ignore)
    bases = assign_baselines(runs, baseline, ignore)
    if baseline and not bases:
        log.warning("no group matches --baseline %s: no deltas", baseline)
    comps = None
    if bases:
        comps = comparisons(frame, bases, ci, test, level, n_resamples)
        agg = with_comparisons(with_deltas(agg, bases), comps)
    summary = summary_table(agg, comps)
    shared = common_overrides(runs, ignore) if summary.shape[0] > 1 else {}
    frame.to_csv(out / "runs.csv", index=False)
    agg.to_csv(out / "metrics_long.csv", index=False)
    summary.to_csv(out / "report.csv", index=False)
    common = " ".join(f"`{k}={v}`" for k, v in sorted(shared.items()))
    text = ("# Results (mIoU %, mean ± sample std over seeds)\n\n"
            + (f"Common to all groups: {common}\n\n" if common else "") + to_markdown(summary))
    if comps is not None and not comps.empty:
        comps.to_csv(out / "comparisons.csv", index=False)
        table = comparison_table(comps, level)
        methods = ("t interval on the per-seed differences" if ci == "t" else
                   f"percentile bootstrap of the per-seed differences ({n_resamples} resamples, seed "
                   f"{stats.BOOTSTRAP_SEED})")
        section = (f"## Comparisons with the baseline (percent points, {100 * level:g} % CI)\n\n"
                   f"Paired by seed where both groups share seeds (n = pairs): Δ = mean of the per-seed "
                   f"differences, interval = {methods}, p = two-sided {stats.TEST_NAMES[test]} test. "
                   "Groups without shared seeds: Welch's t (n = runs of each group). "
                   "`adverse − clear` / `Avg2 − Avg3`: Δ of the first minus Δ of the second. "
                   "Method: docs/statistics.md.\n\n" + to_markdown(table))
        (out / "comparisons.md").write_text("# " + section[3:])
        text += "\n" + section
    (out / "report.md").write_text(text)
    (out / "groups").mkdir(exist_ok=True)
    for group in dict.fromkeys(frame["group"]):
        table = group_table(frame, group)
        table.to_csv(out / "groups" / f"{_slug(group)}.csv", index=False)
        (out / "groups" / f"{_slug(group)}.md").write_text(f"# {group}\n\n" + to_markdown(table))
    plot_domains(agg, out / "miou_by_domain.png", level)
    plot_deltas(agg, out / "deltas.png", comps, level)
    return summary


def write_versus(runs: Sequence[Run], key: str, out: Path, ignore: Sequence[str] = DEFAULT_IGNORED,
                 baseline: Mapping[str, Any] | None = None, ci: str = "t", test: str = "signflip",
                 level: float = 0.95, n_resamples: int = stats.BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    """Write the tables and plots of a sweep over ``key`` to ``out``.

    ``versus_<key>.md|csv`` (table), ``versus_<key>_long.csv`` and ``versus_<key>.png``
    (every metric against ``key``); when a baseline exists at some value,
    ``versus_<key>_delta.md|csv|png``: Δ vs the baseline at the same value with its
    interval (:func:`~flexseg.report.versus.versus_comparisons`).

    Args:
        runs: the runs; each must have ``key`` in its composed config.
        key: the swept config key, e.g. ``data.misalignment_px``.
        out: an existing output folder.
        ignore: override keys (or ``prefix.*``) that never define a group.
        baseline: ``key → value`` of the baseline's runs (``None``: GAP, UBE, HAS off).
        ci, test, level, n_resamples: the interval of Δ, the p-value, the confidence level
            and the bootstrap resamples, as for :func:`~flexseg.report.compare.comparisons`.

    Returns:
        The wide table (:func:`~flexseg.report.versus.versus_table`).

    Raises:
        ValueError: a run has no ``key`` in its config.
    """
    vs = versus_frame(runs, key, ignore)
    table = versus_table(vs, key)
    slug = _slug(key)
    vs.to_csv(out / f"versus_{slug}_long.csv", index=False)
    table.to_csv(out / f"versus_{slug}.csv", index=False)
    (out / f"versus_{slug}.md").write_text(f"# Results against `{key}` (%, mean ± std over seeds)\n\n" + to_markdown(table))
    plot_versus(vs, key, out / f"versus_{slug}.png", level)
    vc = versus_comparisons(runs, key, baseline, ignore, ci, test, level, n_resamples)
    if not vc.empty:
        vc.to_csv(out / f"versus_{slug}_delta.csv", index=False)
        dt = comparison_table(vc.drop(columns=[key]), level)
        dt.insert(1, key, [x for x, m in zip(vc[key], vc["metric"]) if "/" not in m])
        (out / f"versus_{slug}_delta.md").write_text(
            f"# Δ vs the baseline at the same `{key}` (percent points, {100 * level:g} % CI; docs/statistics.md)\n\n"
            + to_markdown(dt))
        plot_versus_deltas(vc, key, out / f"versus_{slug}_delta.png", level)
    return table

