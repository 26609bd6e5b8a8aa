"""Result tables and plots from finished runs: ``python -m flexseg.report DIR... [--out OUT]``.

A *run* is a directory holding ``results.json`` (written by ``flexseg.train`` /
``flexseg.eval``) and ``.hydra/config.yaml`` + ``.hydra/overrides.yaml``; a multirun
directory (``multirun.yaml`` + numbered job folders) is searched recursively. Runs are
grouped by their command-line overrides minus ``seed``, ``hydra.*`` and ``paths.*``, so
the seeds of one configuration form one group; every metric is reported as the mean ±
sample standard deviation (ddof = 1) over the group's runs, in percent.

Averages (DESIGN §1): with the real target domains, Avg2 = mean(ACDC, DZ), Avg3 =
mean(CS, BDD, MV), Avg5 = mean of all five (each only when all its domains are present);
with synthdrive, ``mean`` over all domains and ``adverse`` over fog/night/rain/snow.
Deltas are taken against a baseline group: the one matching ``--baseline KEY=VALUE ...``
(compared with the run's composed config), or automatically the groups whose config
has GAP, UBE and HAS all off; each group is compared with the closest such baseline
(fewest differing config values), so HRDA+FLEX is compared with HRDA+DGInStyle.

Group labels leave out the overrides common to every run (listed once in ``report.md``).
Outputs under ``--out`` (default ``<first DIR>/report``): ``report.md`` / ``report.csv``
(one row per group), ``runs.csv`` (one row per run), ``metrics_long.csv`` (group ×
metric: mean, std, n, delta), ``groups/<group>.md|csv`` (per-seed rows + mean ± std),
``miou_by_domain.png`` and, when there is a baseline, ``deltas.png``. With ``--x KEY``
(a swept config value, e.g. ``data.misalignment_px``) also ``versus_<KEY>.md|csv`` and
``versus_<KEY>.png``: every metric against that value, one line per group without it.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd
import yaml

from flexseg.utils.tables import markdown_table

log = logging.getLogger(__name__)

#: Canonical real-domain names and the spellings a data config may use.
REAL_DOMAINS: dict[str, tuple[str, ...]] = {
    "ACDC": ("acdc",),
    "DZ": ("dz", "dark_zurich", "darkzurich", "dark-zurich"),
    "CS": ("cs", "cityscapes"),
    "BDD": ("bdd", "bdd100k", "bdd10k"),
    "MV": ("mv", "mapillary", "vistas", "mapillary_vistas"),
}
REAL_AVERAGES: dict[str, tuple[str, ...]] = {
    "Avg2": ("ACDC", "DZ"),
    "Avg3": ("CS", "BDD", "MV"),
    "Avg5": ("ACDC", "DZ", "CS", "BDD", "MV"),
}
SYNTH_ADVERSE: tuple[str, ...] = ("fog", "night", "rain", "snow")
#: Override keys never used to tell groups apart (besides ``seed``).
DEFAULT_IGNORED: tuple[str, ...] = ("seed", "hydra.*", "paths.*", "ckpt_path", "resume", "tags")
#: Config keys ignored when looking for the closest baseline.
_CONFIG_NOISE = ("seed", "paths.", "hydra.", "tags", "task_name", "experiment_name", "ckpt_path", "resume",
                 "logger.", "callbacks.")
FLEX_OFF = {"flex.gap.enabled": False, "flex.ube.enabled": False, "flex.has.enabled": False}


class NoRunsError(FileNotFoundError):
    """No finished run (``results.json``) under the given directories."""


@dataclass
class Run:
    """One finished run.

    ``results``: the ``results.json`` payload (fractions 0–1); ``overrides``: the
    command-line overrides as ``key → value`` (prefixes ``+``/``++``/``~`` dropped);
    ``config``: the composed config flattened to dotted keys.
    """

    path: Path
    results: dict[str, Any]
    overrides: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        value = self.config.get("seed", self.overrides.get("seed", 0))
        try:
            return int(value)
        except (TypeError, ValueError):
            return 0

    def group_overrides(self, ignore: Sequence[str] = DEFAULT_IGNORED) -> dict[str, str]:
        """Overrides that define the group (``ignore`` patterns: exact key or ``prefix.*``)."""
        return {k: v for k, v in self.overrides.items() if not _ignored(k, ignore)}

    def group(self, ignore: Sequence[str] = DEFAULT_IGNORED) -> str:
        """Group label: sorted ``key=value`` overrides, or ``(defaults)``."""
        items = sorted(self.group_overrides(ignore).items())
        return " ".join(f"{k}={v}" for k, v in items) or "(defaults)"


# ------------------------------------------------------------------------ loading
def _ignored(key: str, patterns: Sequence[str]) -> bool:
    for p in patterns:
        if p.endswith(".*") and (key == p[:-2] or key.startswith(p[:-1])):
            return True
        if key == p:
            return True
    return False


def parse_override(text: str) -> tuple[str, str]:
    """``"+experiment=hrda_flex"`` → ``("experiment", "hrda_flex")``; ``~key`` → value ``"~"``."""
    text = str(text).strip()
    if text.startswith("~"):
        return text[1:].split("=", 1)[0], "~"
    key, _, value = text.partition("=")
    return key.lstrip("+"), value


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts → ``{"a.b.c": leaf}`` (lists kept as leaves)."""
    if not isinstance(obj, Mapping):
        return {prefix.rstrip("."): obj} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def load_run(run_dir: str | Path) -> Run:
    """Read one run directory (``results.json`` + ``.hydra/``)."""
    run_dir = Path(run_dir)
    results_file = run_dir / "results.json"
    try:
        results = json.loads(results_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {results_file}: {err}") from err
    if not isinstance(results, dict) or not isinstance(results.get("miou"), dict):
        raise ValueError(f"{results_file} has no per-domain 'miou' mapping (not a FlexSeg results.json)")
    hydra_dir = run_dir / ".hydra"
    config: dict[str, Any] = {}
    overrides: dict[str, str] = {}
    if (hydra_dir / "config.yaml").is_file():
        config = flatten(yaml.safe_load((hydra_dir / "config.yaml").read_text()) or {})
    else:
        log.warning("%s has no .hydra/config.yaml: its config is unknown", run_dir)
    if (hydra_dir / "overrides.yaml").is_file():
        overrides = dict(parse_override(o) for o in (yaml.safe_load((hydra_dir / "overrides.yaml").read_text()) or []))
    return Run(path=run_dir, results=results, overrides=overrides, config=config)


def load_runs(paths: Iterable[str | Path]) -> list[Run]:
    """All finished runs under ``paths`` (run dirs, multirun dirs, or any parent folder),
    sorted by path (job 2 before job 10). Raises :class:`NoRunsError` naming the folders
    without a run, ``FileNotFoundError`` for a missing folder."""
    runs: list[Run] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
        found = [p / "results.json"] if (p / "results.json").is_file() else sorted(p.rglob("results.json"), key=_natural_key)
        if not found:
            unfinished = sorted(d.parent for d in p.rglob(".hydra"))
            hint = f" ({len(unfinished)} run folder(s) without results.json: unfinished?)" if unfinished else ""
            raise NoRunsError(f"no finished run (results.json) under {p}{hint}")
        runs += [load_run(f.parent) for f in found]
    return runs


# -------------------------------------------------------------------- aggregation
def common_overrides(runs: Sequence[Run], ignore: Sequence[str] = DEFAULT_IGNORED) -> dict[str, str]:
    """Grouping overrides every run shares (same key and value), e.g. ``+experiment=…``
    and the data-size flags of a sweep; left out of the group labels."""
    if not runs:
        return {}
    shared = dict(runs[0].group_overrides(ignore))
    for r in runs[1:]:
        own = r.group_overrides(ignore)
        shared = {k: v for k, v in shared.items() if own.get(k) == v}
    return shared


def group_labels(runs: Sequence[Run], ignore: Sequence[str] = DEFAULT_IGNORED) -> list[str]:
    """Display label of each run's group: its grouping overrides minus the
    :func:`common_overrides` (``(common)`` when nothing is left, ``(defaults)`` for runs
    without any override). Distinct groups keep distinct labels."""
    shared = common_overrides(runs, ignore) if len({r.group(ignore) for r in runs}) > 1 else {}
    labels = []
    for r in runs:
        own = r.group_overrides(ignore)
        rest = sorted((k, v) for k, v in own.items() if k not in shared)
        labels.append(" ".join(f"{k}={v}" for k, v in rest) or ("(common)" if own else "(defaults)"))
    return labels


def canonical_domain(name: str) -> str:
    """Real-domain spelling → ``ACDC``/``DZ``/``CS``/``BDD``/``MV``; other names unchanged."""
    low = name.lower()
    for canon, aliases in REAL_DOMAINS.items():
        if low in aliases:
            return canon
    return name


def averages(mious: Mapping[str, float]) -> dict[str, float]:
    """Summary averages of per-domain mIoU values (any unit; NaN values skipped).

    Real domains (names as in :data:`REAL_DOMAINS`) → ``Avg2``/``Avg3``/``Avg5``, each
    only when all of its domains are present; otherwise (e.g. synthdrive) ``mean`` over
    all domains and, when any of fog/night/rain/snow is present, ``adverse`` over those.
    """
    vals = {canonical_domain(d): float(v) for d, v in mious.items() if v is not None and not math.isnan(float(v))}
    out: dict[str, float] = {}
    if any(d in REAL_DOMAINS for d in vals):
        for name, members in REAL_AVERAGES.items():
            if all(m in vals for m in members):
                out[name] = sum(vals[m] for m in members) / len(members)
        if out:
            return out
    if vals:
        out["mean"] = sum(vals.values()) / len(vals)
    adverse = [vals[d] for d in SYNTH_ADVERSE if d in vals]
    if adverse:
        out["adverse"] = sum(adverse) / len(adverse)
    return out


def _mean(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def run_metrics(run: Run) -> dict[str, float]:
    """Per-run metrics in percent: ``<domain>`` mIoU, the :func:`averages`,
    ``boundary_acc`` / ``interior_acc`` (mean over domains) and per-domain
    ``boundary_acc/<domain>``, ``interior_acc/<domain>``."""
    miou = {canonical_domain(d): 100 * float(v) for d, v in run.results["miou"].items() if v is not None}
    out: dict[str, float] = dict(miou)
    out.update(averages(miou))
    for key in ("boundary_acc", "interior_acc"):
        per_domain = {canonical_domain(d): 100 * float(v) for d, v in (run.results.get(key) or {}).items() if v is not None}
        if per_domain:
            out[key] = _mean(per_domain.values())
            out.update({f"{key}/{d}": v for d, v in per_domain.items()})
    return out


def runs_frame(runs: Sequence[Run], ignore: Sequence[str] = DEFAULT_IGNORED) -> pd.DataFrame:
    """One row per run: ``group`` (its :func:`group_labels` label), ``seed``, ``path`` and
    every :func:`run_metrics` column."""
    labels = group_labels(runs, ignore)
    rows = [{"group": g, "seed": r.seed, "path": str(r.path), **run_metrics(r)} for g, r in zip(labels, runs)]
    return pd.DataFrame(rows)


def aggregate(runs: Sequence[Run], ignore: Sequence[str] = DEFAULT_IGNORED) -> pd.DataFrame:
    """Long table, one row per (group, metric): ``mean``, ``std`` (sample, ddof = 1; NaN
    for a single run), ``n`` (runs with a finite value). Values in percent; groups in
    order of first appearance, metrics in :func:`metric_order`."""
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
    """Domains (real ones in paper order, then others), averages, then accuracies."""
    metrics = list(dict.fromkeys(metrics))
    real = [d for d in REAL_DOMAINS if d in metrics]
    avgs = [a for a in (*REAL_AVERAGES, "mean", "adverse") if a in metrics]
    acc = [m for m in metrics if m.startswith(("boundary_acc", "interior_acc"))]
    acc = sorted(acc, key=lambda m: (m.count("/"), m))
    domains = [m for m in metrics if m not in real and m not in avgs and m not in acc]
    return real + domains + avgs + acc


def _matches(config: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    for key, value in wanted.items():
        if key not in config:
            return False
        have = config[key]
        if isinstance(value, str):
            value = yaml.safe_load(value) if value != "" else value
        if have != value and str(have).lower() != str(value).lower():
            return False
    return True


def baseline_groups(runs: Sequence[Run], baseline: Mapping[str, Any] | None = None,
                    ignore: Sequence[str] = DEFAULT_IGNORED) -> list[str]:
    """Groups whose runs match ``baseline`` (``key → value``, compared with the composed
    config and the overrides); default: GAP, UBE and HAS all disabled."""
    wanted = dict(baseline) if baseline else FLEX_OFF
    groups: list[str] = []
    for g, r in zip(group_labels(runs, ignore), runs):
        if g not in groups and (_matches(r.config, wanted) or _matches(r.overrides, wanted)):
            groups.append(g)
    return groups


def _config_distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    keys = {k for k in (*a, *b) if not k.startswith(_CONFIG_NOISE)}
    return sum(str(a.get(k)) != str(b.get(k)) for k in keys)


def assign_baselines(runs: Sequence[Run], baseline: Mapping[str, Any] | None = None,
                     ignore: Sequence[str] = DEFAULT_IGNORED) -> dict[str, str]:
    """group → its baseline group (the closest baseline by config; a baseline is its own)."""
    bases = baseline_groups(runs, baseline, ignore)
    if not bases:
        return {}
    first: dict[str, dict[str, Any]] = {}
    for g, r in zip(group_labels(runs, ignore), runs):
        first.setdefault(g, r.config)
    return {g: min(bases, key=lambda b: (_config_distance(cfg, first[b]), bases.index(b))) for g, cfg in first.items()}


def with_deltas(agg: pd.DataFrame, baselines: Mapping[str, str]) -> pd.DataFrame:
    """Add ``baseline`` and ``delta`` (group mean − baseline mean, percent points) columns."""
    means = agg.set_index(["group", "metric"])["mean"]
    out = agg.copy()
    out["baseline"] = [baselines.get(g, "") for g in out["group"]]
    out["delta"] = [
        mean - means.get((baselines[g], m), float("nan")) if g in baselines else float("nan")
        for g, m, mean in zip(out["group"], out["metric"], out["mean"])
    ]
    return out


# ------------------------------------------------------------------------ tables
def fmt_mean_std(mean: float, std: float, n: int, digits: int = 2) -> str:
    """``"48.58 ± 0.12"``; a single run prints the mean only; NaN → ``—``."""
    if mean is None or math.isnan(mean):
        return "—"
    if n > 1 and not math.isnan(std):
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"{mean:.{digits}f}"


def summary_table(agg: pd.DataFrame) -> pd.DataFrame:
    """Wide table, one row per group: ``n``, then per metric ``mean ± std`` strings, then
    ``Δ <main average>`` columns when deltas are present. Main averages: Avg2/Avg3/Avg5
    (real) or mean/adverse (synthdrive); accuracy columns are the domain means."""
    metrics = [m for m in metric_order(agg["metric"].unique()) if "/" not in m]
    rows = []
    for group, sub in agg.groupby("group", sort=False):
        by = sub.set_index("metric")
        row: dict[str, Any] = {"group": group, "n": int(by["n"].max())}
        for m in metrics:
            if m in by.index:
                row[m] = fmt_mean_std(by.at[m, "mean"], by.at[m, "std"], int(by.at[m, "n"]))
        if "delta" in by.columns and by["baseline"].iloc[0]:
            for m in [a for a in (*REAL_AVERAGES, "mean", "adverse", "boundary_acc") if a in by.index]:
                d = by.at[m, "delta"]
                row[f"Δ {m}"] = "—" if math.isnan(d) else f"{d:+.2f}"
            row["baseline"] = "(this)" if by["baseline"].iloc[0] == group else by["baseline"].iloc[0]
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub markdown table of ``df`` (no tabulate dependency)."""
    return markdown_table(list(df.columns), df.itertuples(index=False))


def _slug(group: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", group).strip("_")[:120] or "defaults"


def group_table(frame: pd.DataFrame, group: str) -> pd.DataFrame:
    """Per-seed rows of one group plus ``mean ± std`` (numbers rounded to 2 digits)."""
    sub = frame[frame["group"] == group]
    metrics = [m for m in metric_order(c for c in frame.columns if c not in ("group", "seed", "path")) if "/" not in m]
    metrics = [m for m in metrics if sub[m].notna().any()]
    rows = [{"seed": str(s), **{m: f"{v:.2f}" if not math.isnan(v) else "—" for m, v in zip(metrics, vals)}}
            for s, vals in zip(sub["seed"], sub[metrics].astype(float).itertuples(index=False))]
    stats = {m: fmt_mean_std(sub[m].mean(), sub[m].std(ddof=1), int(sub[m].notna().sum())) for m in metrics}
    rows.append({"seed": f"mean ± std (n={len(sub)})", **stats})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------- plots
def plot_domains(agg: pd.DataFrame, path: Path) -> Path:
    """Grouped bars: x = domains and averages, one bar per group, error bars = std."""
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
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, mean, width, yerr=np.nan_to_num(std), capsize=2,
               label=g if len(g) < 60 else g[:57] + "…")
    ax.set_xticks(x, metrics)
    ax.set_ylabel("mIoU (%)")
    ax.set_title("mIoU per domain (mean ± std over seeds)")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_deltas(agg: pd.DataFrame, path: Path) -> Path | None:
    """Horizontal bars of Δ (percent points) vs baseline of the main averages per group;
    ``None`` when no delta is available."""
    if "delta" not in agg.columns:
        return None
    keys = [m for m in (*REAL_AVERAGES, "mean", "adverse") if m in set(agg["metric"])]
    sub = agg[agg["metric"].isin(keys) & agg["delta"].notna() & (agg["group"] != agg["baseline"])]
    if sub.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = list(dict.fromkeys(sub["group"]))
    table = sub.set_index(["group", "metric"])["delta"]
    y = np.arange(len(groups))
    height = 0.8 / len(keys)
    fig, ax = plt.subplots(figsize=(7.0, 1.0 + 0.5 * len(groups) * max(1, len(keys)) ** 0.5))
    for i, m in enumerate(keys):
        ax.barh(y + (i - (len(keys) - 1) / 2) * height, [table.get((g, m), np.nan) for g in groups], height, label=m)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, [g if len(g) < 50 else g[:47] + "…" for g in groups], fontsize="x-small")
    ax.set_xlabel("Δ mIoU vs baseline (percent points)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def versus_frame(runs: Sequence[Run], key: str, ignore: Sequence[str] = DEFAULT_IGNORED) -> pd.DataFrame:
    """Long table for a sweep over the config value ``key``: one row per (group without
    ``key``, value of ``key``, metric) with ``mean``, ``std`` (ddof = 1) and ``n`` in percent."""
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


def versus_table(vs: pd.DataFrame, key: str) -> pd.DataFrame:
    """Wide table: one row per (group, ``key`` value), one column per metric (mean ± std)."""
    rows = []
    for (group, x), sub in vs.groupby(["group", key], sort=False):
        row: dict[str, Any] = {"group": group, key: x}
        for _, r in sub.iterrows():
            row[r["metric"]] = fmt_mean_std(r["mean"], r["std"], int(r["n"]))
        rows.append(row)
    return pd.DataFrame(rows)


def plot_versus(vs: pd.DataFrame, key: str, path: Path) -> Path:
    """One panel per domain (and the averages): mIoU against ``key``, one line per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = [m for m in metric_order(vs["metric"].unique()) if "/" not in m]
    groups = list(dict.fromkeys(vs["group"]))
    cols = min(4, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows + 0.6), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        for g in groups:
            sub = vs[(vs["group"] == g) & (vs["metric"] == m)]
            ax.errorbar(sub[key].astype(float), sub["mean"], yerr=np.nan_to_num(sub["std"].to_numpy(float)),
                        marker="o", capsize=2, label=g if len(g) < 50 else g[:47] + "…")
        ax.set_title(m, fontsize="small")
        ax.set_xlabel(key, fontsize="x-small")
        ax.set_ylabel("%" if m.endswith("_acc") else "mIoU (%)", fontsize="x-small")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize="x-small")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------- CLI
def write_report(runs: Sequence[Run], out: Path, baseline: Mapping[str, Any] | None = None,
                 ignore: Sequence[str] = DEFAULT_IGNORED) -> pd.DataFrame:
    """Write every table and plot to ``out``; returns the summary table."""
    out.mkdir(parents=True, exist_ok=True)
    frame = runs_frame(runs, ignore)
    agg = aggregate(runs, ignore)
    bases = assign_baselines(runs, baseline, ignore)
    if baseline and not bases:
        log.warning("no group matches --baseline %s: no deltas", baseline)
    if bases:
        agg = with_deltas(agg, bases)
    summary = summary_table(agg)
    shared = common_overrides(runs, ignore) if summary.shape[0] > 1 else {}
    frame.to_csv(out / "runs.csv", index=False)
    agg.to_csv(out / "metrics_long.csv", index=False)
    summary.to_csv(out / "report.csv", index=False)
    common = " ".join(f"`{k}={v}`" for k, v in sorted(shared.items()))
    (out / "report.md").write_text(
        "# Results (mIoU %, mean ± sample std over seeds)\n\n"
        + (f"Common to all groups: {common}\n\n" if common else "")
        + to_markdown(summary)
    )
    (out / "groups").mkdir(exist_ok=True)
    for group in dict.fromkeys(frame["group"]):
        table = group_table(frame, group)
        table.to_csv(out / "groups" / f"{_slug(group)}.csv", index=False)
        (out / "groups" / f"{_slug(group)}.md").write_text(f"# {group}\n\n" + to_markdown(table))
    plot_domains(agg, out / "miou_by_domain.png")
    plot_deltas(agg, out / "deltas.png")
    return summary


def write_versus(runs: Sequence[Run], key: str, out: Path, ignore: Sequence[str] = DEFAULT_IGNORED) -> pd.DataFrame:
    """``versus_<key>.md|csv`` (table) and ``versus_<key>.png`` (mIoU against ``key``)."""
    vs = versus_frame(runs, key, ignore)
    table = versus_table(vs, key)
    slug = _slug(key)
    vs.to_csv(out / f"versus_{slug}_long.csv", index=False)
    table.to_csv(out / f"versus_{slug}.csv", index=False)
    (out / f"versus_{slug}.md").write_text(f"# Results against `{key}` (%, mean ± std over seeds)\n\n" + to_markdown(table))
    plot_versus(vs, key, out / f"versus_{slug}.png")
    return table


def parse_key_values(items: Sequence[str]) -> dict[str, str]:
    """``["a.b=1", "c=x"]`` → ``{"a.b": "1", "c": "x"}`` (prefix ``+`` dropped)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--baseline expects KEY=VALUE, got {item!r}")
        k, v = parse_override(item)
        out[k] = v
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flexseg.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="run or multirun directories")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <first DIR>/report)")
    parser.add_argument("--baseline", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config values of the baseline group (default: flex.gap/ube/has.enabled=false)")
    parser.add_argument("--ignore", nargs="*", default=[], metavar="KEY",
                        help="further override keys (or prefix.*) not used for grouping")
    parser.add_argument("--x", dest="versus", default=None, metavar="KEY",
                        help="also tabulate and plot every metric against this swept config value "
                             "(e.g. data.misalignment_px): versus_<KEY>.md|csv|png")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        runs = load_runs(args.dirs)
        baseline = parse_key_values(args.baseline) or None
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or args.dirs[0] / "report"
    summary = write_report(runs, out, baseline, (*DEFAULT_IGNORED, *args.ignore))
    print(to_markdown(summary))
    if args.versus:
        try:
            table = write_versus(runs, args.versus, out, (*DEFAULT_IGNORED, *args.ignore))
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(to_markdown(table))
    print(f"{len(runs)} runs in {summary.shape[0]} groups → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
