"""The structure of flexseg.report and of the command modules (issue 18).

- Every name of the former ``flexseg/report.py`` is importable from ``flexseg.report`` and
  is the object its submodule defines; no submodule shadows an exported name.
- ``flexseg.report.results`` (imported by train/eval) loads neither pandas nor matplotlib.
- Command modules import library code, not each other; names that moved out of them
  stay importable from their old module.
"""
from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import flexseg
from flexseg import report

ROOT = Path(flexseg.__file__).parent
#: The Hydra / argparse commands (``python -m flexseg.<name>``).
COMMANDS = ("train", "eval", "analyze", "predict", "export", "generate", "bench")

FORMER_NAMES = {  # every top-level name flexseg/report.py defined (public, and the private ones tests use)
    "COMPARISON_COLUMNS", "CONTRASTS", "DEFAULT_IGNORED", "FLEX_OFF", "GROUP_BY", "NoRunsError", "REAL_AVERAGES",
    "REAL_DOMAINS", "Run", "SYNTH_ADVERSE", "aggregate", "assign_baselines", "averages", "baseline_groups",
    "canonical_domain", "common_overrides", "comparison_table", "comparisons", "flatten", "fmt_delta_ci", "fmt_mean_std",
    "fmt_p", "folder_label", "group_labels", "group_table", "load_run", "load_runs", "main", "metric_order",
    "parse_key_values", "parse_override", "plot_deltas", "plot_domains", "plot_versus", "plot_versus_deltas",
    "run_metrics", "runs_frame", "summary_table", "to_markdown", "versus_comparisons", "versus_frame", "versus_table",
    "with_comparisons", "with_contrasts", "with_deltas", "write_report", "write_versus", "_ci_half_widths",
    "_closest_baselines", "_config_distance", "_ignored", "_matches", "_mean", "_natural_key", "_save_panels", "_slug",
    "_stats", "_CONFIG_NOISE",
}


def test_every_former_name_is_reexported_from_its_submodule():
    assert FORMER_NAMES <= set(report._EXPORTS)
    for name, module in report._EXPORTS.items():
        defined = getattr(importlib.import_module(f"flexseg.report.{module}"), name)
        assert getattr(report, name) is defined, name
    assert set(report.__all__) == {n for n in report._EXPORTS if not n.startswith("_")}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        report.nope  # noqa: B018


def test_no_submodule_shadows_an_exported_name():
    """Importing ``flexseg.report.X`` sets the package attribute ``X`` to the submodule."""
    submodules = {m.name for m in pkgutil.iter_modules(report.__path__)}
    assert {"results", "discovery", "baselines", "aggregation", "compare", "tables", "plots", "versus", "write",
            "cli", "__main__"} <= submodules
    assert not submodules & set(report._EXPORTS)
    for name in submodules - {"__main__"}:
        importlib.import_module(f"flexseg.report.{name}")
    assert callable(report.aggregate) and report.aggregate.__module__ == "flexseg.report.aggregation"


def test_the_results_model_imports_no_pandas():
    code = ("import sys, flexseg.report.results, flexseg.report; flexseg.report.averages; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports (at top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("command", COMMANDS)
def test_command_modules_do_not_import_each_other(command):
    imported = _imported_modules(ROOT / f"{command}.py")
    others = {f"flexseg.{c}" for c in COMMANDS if c != command} | {"flexseg.report.cli", "flexseg.report.__main__"}
    assert not imported & others, f"flexseg/{command}.py imports {sorted(imported & others)}"


def test_moved_names_stay_importable_from_their_old_modules():
    from flexseg import checkpoint, eval, train
    from flexseg.report import results

    assert eval.load_network_weights is checkpoint.load_network_weights
    assert eval.build_module_from_checkpoint is checkpoint.build_module_from_checkpoint
    assert eval.write_tables is results.write_tables is report.write_tables
    assert eval.results_summary is train.results_summary is results.results_summary is report.results_summary
