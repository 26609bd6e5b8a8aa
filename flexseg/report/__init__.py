"""Result tables and plots from finished runs: ``python -m flexseg.report DIR... [--out OUT]``.

What the report reads, how it groups runs, picks baselines and compares them, and every
file it writes: docs/report.md (statistics: docs/statistics.md). One concept per module:

- :mod:`~flexseg.report.results` — one run's results: ``results.json`` (written by
  ``flexseg.train`` / ``flexseg.eval`` with :func:`results_summary`), its tables
  (:func:`write_tables`), the paper's averages (:func:`averages`: Avg2/Avg3/Avg5, or
  mean/adverse on synthdrive) and :func:`canonical_domain`;
- :mod:`~flexseg.report.discovery` — finding runs (:func:`load_runs`) and grouping them;
- :mod:`~flexseg.report.baselines` — which group each group is compared with;
- :mod:`~flexseg.report.aggregation` — per-run metrics and mean ± std per group;
- :mod:`~flexseg.report.compare` — Δ vs the baseline paired by seed (:mod:`flexseg.stats`);
- :mod:`~flexseg.report.tables`, :mod:`~flexseg.report.plots` — text tables and figures;
- :mod:`~flexseg.report.versus` — metrics against a swept config value (``--x``);
- :mod:`~flexseg.report.write` — the report folder; :mod:`~flexseg.report.cli` — the command.

Every name is importable from ``flexseg.report`` as before the package existed. The
submodules are imported when a name is first used, so ``flexseg.train`` / ``flexseg.eval``
can import :mod:`flexseg.report.results` without loading pandas or matplotlib.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: name → submodule that defines it (the names ``flexseg/report.py`` had, and the shared
#: results pieces that moved here from ``flexseg.train`` / ``flexseg.eval``).
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("REAL_AVERAGES", "REAL_DOMAINS", "SYNTH_ADVERSE", "SYNTH_ADVERSE_PHYS",
                     "SYNTH_AVERAGES", "averages", "canonical_domain", "read_results",
                     "results_summary", "run_metrics", "write_tables", "_mean"), "results"),
    **dict.fromkeys(("DEFAULT_IGNORED", "GROUP_BY", "NoRunsError", "Run", "common_overrides", "flatten", "folder_label",
                     "group_labels", "load_run", "load_runs", "parse_override", "_ignored", "_natural_key"), "discovery"),
    **dict.fromkeys(("FLEX_OFF", "assign_baselines", "baseline_groups", "parse_key_values", "_CONFIG_NOISE",
                     "_closest_baselines", "_config_distance", "_matches"), "baselines"),
    **dict.fromkeys(("aggregate", "metric_order", "runs_frame", "with_deltas", "_stats"), "aggregation"),
    **dict.fromkeys(("COMPARISON_COLUMNS", "CONTRASTS", "comparisons", "with_comparisons", "with_contrasts"), "compare"),
    **dict.fromkeys(("comparison_table", "fmt_delta_ci", "fmt_mean_std", "fmt_p", "group_table", "summary_table",
                     "to_markdown", "_slug"), "tables"),
    **dict.fromkeys(("plot_deltas", "plot_domains", "plot_versus", "plot_versus_deltas", "_ci_half_widths",
                     "_save_panels"), "plots"),
    **dict.fromkeys(("versus_comparisons", "versus_frame", "versus_table"), "versus"),
    **dict.fromkeys(("write_report", "write_versus"), "write"),
    "main": "cli",
}

__all__ = sorted(name for name in _EXPORTS if not name.startswith("_"))


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # for type checkers and editors; at run time names load on first use
    from flexseg.report.aggregation import aggregate, metric_order, runs_frame, with_deltas  # noqa: F401
    from flexseg.report.baselines import FLEX_OFF, assign_baselines, baseline_groups, parse_key_values  # noqa: F401
    from flexseg.report.cli import main  # noqa: F401
    from flexseg.report.compare import (  # noqa: F401
        COMPARISON_COLUMNS,
        CONTRASTS,
        comparisons,
        with_comparisons,
        with_contrasts,
    )
    from flexseg.report.discovery import (  # noqa: F401
        DEFAULT_IGNORED,
        GROUP_BY,
        NoRunsError,
        Run,
        common_overrides,
        flatten,
        folder_label,
        group_labels,
        load_run,
        load_runs,
        parse_override,
    )
    from flexseg.report.plots import plot_deltas, plot_domains, plot_versus, plot_versus_deltas  # noqa: F401
    from flexseg.report.results import (  # noqa: F401
        REAL_AVERAGES,
        REAL_DOMAINS,
        SYNTH_ADVERSE,
        SYNTH_ADVERSE_PHYS,
        SYNTH_AVERAGES,
        averages,
        canonical_domain,
        read_results,
        results_summary,
        run_metrics,
        write_tables,
    )
    from flexseg.report.tables import (  # noqa: F401
        comparison_table,
        fmt_delta_ci,
        fmt_mean_std,
        fmt_p,
        group_table,
        summary_table,
        to_markdown,
    )
    from flexseg.report.versus import versus_comparisons, versus_frame, versus_table  # noqa: F401
    from flexseg.report.write import write_report, write_versus  # noqa: F401
