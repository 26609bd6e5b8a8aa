"""Result tables and plots from finished runs: ``python -m flexseg.report DIR... [--out OUT]``.

A *run* is a directory holding ``results.json`` (written by ``flexseg.train`` /
``flexseg.eval``) and ``.hydra/config.yaml`` + ``.hydra/overrides.yaml``; a multirun
directory (``multirun.yaml`` + numbered job folders) is searched recursively. Runs are
grouped by their command-line overrides minus ``seed``, ``hydra.*`` and ``paths.*``, so
the seeds of one configuration form one group; every metric is reported as the mean ±
sample standard deviation (ddof = 1) over the group's runs, in percent.

Averages (docs/design.md §1): with the real target domains, Avg2 = mean(ACDC, DZ), Avg3 =
mean(CS, BDD, MV), Avg5 = mean of all five (each only when all its domains are present);
with synthdrive, ``mean`` over all domains and ``adverse`` over fog/night/rain/snow.
Deltas are taken against a baseline group: the one matching ``--baseline KEY=VALUE ...``
(compared with the run's composed config), or automatically the groups whose config
has GAP, UBE and HAS all off; each group is compared with the closest such baseline
(fewest differing config values), so HRDA+FLEX is compared with HRDA+DGInStyle.

Each group is compared with its baseline **paired by seed** (docs/statistics.md;
:mod:`flexseg.stats`): Δ = mean of the per-seed differences over the seeds both groups
have (the others dropped with a warning), its interval (``--ci t``: Student t, default;
``bootstrap``: percentile) and p-value (``--test signflip``: exact sign-flip, default;
``wilcoxon``; ``t``); Welch's t when the groups share no seed; no interval below 2 pairs.
``--group-by folder`` groups runs by their parent folder instead of their overrides
(e.g. ``synth10/main/{flex,off}/<seed>``).

Group labels leave out the overrides common to every run (listed once in ``report.md``).
Outputs under ``--out`` (default ``<first DIR>/report``): ``report.md`` / ``report.csv``
(one row per group; Δ cells ``Δ [low, high]``; ``report.md`` ends with the comparison
table), ``comparisons.md|csv`` (group × metric: Δ, interval, p, pairs, methods),
``runs.csv`` (one row per run), ``metrics_long.csv`` (group × metric: mean, std, n,
delta, ci_low, ci_high, p_value, n_pairs, ...), ``groups/<group>.md|csv`` (per-seed
rows + mean ± std), ``miou_by_domain.png`` (error bars: t interval of the mean) and,
when there is a baseline, ``deltas.png`` (error bars: interval of Δ). With ``--x KEY``
(a swept config value, e.g. ``data.misalignment_px``) also ``versus_<KEY>.md|csv`` and
``versus_<KEY>.png``: every metric against that value, one line per group without it,
and ``versus_<KEY>_delta.md|csv|png``: Δ vs the baseline at the same value.
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

from flexseg import stats
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
    #: Group label set by ``load_runs(..., group_by="folder")`` (else groups come from overrides).
    label: str | None = None

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


GROUP_BY = ("overrides", "folder")


def folder_label(run_dir: Path, root: Path) -> str:
    """Group label of a run found under ``root`` by folder: the path of the run's parent
    folder relative to ``root`` (``synth10/main/flex/3`` under ``synth10`` → ``main/flex``),
    or the parent's name when the run sits directly in ``root`` or ``root`` is the run."""
    parent = run_dir.parent
    try:
        rel = parent.relative_to(root)
    except ValueError:
        rel = Path(".")
    return str(rel) if str(rel) != "." else parent.name


def load_runs(paths: Iterable[str | Path], group_by: str = "overrides") -> list[Run]:
    """All finished runs under ``paths`` (run dirs, multirun dirs, or any parent folder),
    sorted by path (job 2 before job 10). ``group_by="folder"`` labels each run's group by
    its parent folder (:func:`folder_label`, e.g. ``logs/.../synth10/main/{flex,off}/<seed>``)
    instead of its overrides. Raises :class:`NoRunsError` naming the folders without a
    run, ``FileNotFoundError`` for a missing folder."""
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {GROUP_BY}, got {group_by!r}")
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
        for f in found:
            run = load_run(f.parent)
            if group_by == "folder":
                run.label = folder_label(f.parent, p)
            runs.append(run)
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
    if runs and all(r.label is not None for r in runs):
        return [str(r.label) for r in runs]
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
    return _closest_baselines(runs, group_labels(runs, ignore), baseline)


def _closest_baselines(runs: Sequence[Run], labels: Sequence[str], baseline: Mapping[str, Any] | None) -> dict[str, str]:
    """:func:`assign_baselines` for given group ``labels`` (one per run)."""
    wanted = dict(baseline) if baseline else FLEX_OFF
    bases: list[str] = []
    first: dict[str, dict[str, Any]] = {}
    for g, r in zip(labels, runs):
        first.setdefault(g, r.config)
        if g not in bases and (_matches(r.config, wanted) or _matches(r.overrides, wanted)):
            bases.append(g)
    if not bases:
        return {}
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


#: Contrasts tested per run besides the metrics: value = first − second (percent points),
#: so their Δ is the difference of the two Δs (e.g. "is the gain larger under adverse
#: conditions?": Δ(adverse − clear) = Δ adverse − Δ clear).
CONTRASTS: dict[str, tuple[str, str]] = {"adverse − clear": ("adverse", "clear"), "Avg2 − Avg3": ("Avg2", "Avg3")}
COMPARISON_COLUMNS = ["group", "baseline", "metric", "delta", "low", "high", "ci_low", "ci_high", "p_value",
                      "n_pairs", "n", "n_base", "interval", "test"]


def with_contrasts(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (:func:`runs_frame`) plus one column per :data:`CONTRASTS` entry whose two
    metrics are both present."""
    out = frame.copy()
    for name, (first, second) in CONTRASTS.items():
        if first in out.columns and second in out.columns:
            out[name] = out[first] - out[second]
    return out


def comparisons(frame: pd.DataFrame, baselines: Mapping[str, str], ci: str = "t", test: str = "signflip",
                level: float = 0.95, n_resamples: int = stats.BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    """Every group against its baseline (``baselines``: group → baseline group, the
    baseline itself left out), per metric of ``frame`` (:func:`runs_frame`) and per
    :data:`CONTRASTS` entry, with :func:`flexseg.stats.compare`: paired by seed when both
    groups share seeds (seeds without a partner dropped, with a warning), else Welch.

    Columns (:data:`COMPARISON_COLUMNS`): ``delta`` (mean paired difference, or difference
    of means when unpaired; percent points), ``low``/``high`` (the ``ci`` interval),
    ``ci_low``/``ci_high`` (the t interval: paired t, or Welch), ``p_value`` (``test``;
    Welch's when unpaired), ``n_pairs`` (0 unpaired), ``n``/``n_base`` (runs with a value),
    ``interval`` and ``test`` (names of the methods used)."""
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
    """``agg`` (with :func:`with_deltas`) plus ``ci_low``/``ci_high`` (the t interval of
    the comparison at its level, 95 % by default: paired t, or Welch when the groups share
    no seed), ``p_value``, ``n_pairs`` (0 when unpaired or for a baseline row),
    ``delta_paired`` (the interval's centre: the mean paired difference, = ``delta`` when
    every seed has a partner; the difference of means when unpaired), ``interval`` and
    ``test``. Baseline rows and groups without a baseline: NaN / empty."""
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


# ------------------------------------------------------------------------ tables
def fmt_delta_ci(delta: float, low: float, high: float, digits: int = 2) -> str:
    """``"+1.48 [+0.20, +2.76]"``; without an interval (n < 2) ``"+1.48"``; NaN Δ → ``—``."""
    if delta is None or math.isnan(delta):
        return "—"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{delta:+.{digits}f}"
    return f"{delta:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def fmt_p(p: float) -> str:
    """p-value with 2 significant digits (``0.031``, ``0.0020``, ``<1e-4``); NaN → ``—``."""
    if p is None or math.isnan(p):
        return "—"
    if p < 1e-4:
        return "<1e-4"
    return f"{p:.2g}" if p < 0.1 else f"{p:.2f}"


def comparison_table(comps: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Markdown-ready table: one row per (group, metric) of :func:`comparisons` without the
    per-domain accuracies: ``Δ [low, high]`` (the chosen interval), ``p``, ``n`` (pairs, or
    ``a+b`` runs when unpaired), ``interval``, ``test``."""
    rows = []
    for r in comps[~comps["metric"].str.contains("/")].itertuples(index=False):
        n = str(r.n_pairs) if r.interval.startswith("paired") else f"{r.n}+{r.n_base}"
        rows.append({"group": r.group, "baseline": r.baseline, "metric": r.metric,
                     f"Δ [{100 * level:g} % CI]": fmt_delta_ci(r.delta, r.low, r.high), "p": fmt_p(r.p_value),
                     "n": n, "interval": r.interval, "test": r.test})
    return pd.DataFrame(rows)


def fmt_mean_std(mean: float, std: float, n: int, digits: int = 2) -> str:
    """``"48.58 ± 0.12"``; a single run prints the mean only; NaN → ``—``."""
    if mean is None or math.isnan(mean):
        return "—"
    if n > 1 and not math.isnan(std):
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"{mean:.{digits}f}"


def summary_table(agg: pd.DataFrame, comps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Wide table, one row per group: ``n``, then per metric ``mean ± std`` strings, then
    ``Δ <main average>`` columns when deltas are present. Main averages: Avg2/Avg3/Avg5
    (real) or mean/adverse (synthdrive); accuracy columns are the domain means. With
    ``comps`` (:func:`comparisons`) the Δ cells read ``Δ [low, high]`` (Δ and interval
    of the comparison, i.e. paired by seed when possible) and ``pairs`` / ``test`` columns
    say how many seed pairs and which test were used."""
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
            main = [a for a in (*REAL_AVERAGES, "mean", "adverse", "boundary_acc") if a in by.index]
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
def _ci_half_widths(std: Iterable[float], n: Iterable[int], level: float = 0.95) -> list[float]:
    """t-interval half widths of group means (0 where there is no interval: n < 2)."""
    out = []
    for s_, n_ in zip(std, n):
        n_ = 0 if n_ is None or (isinstance(n_, float) and math.isnan(n_)) else int(n_)
        half = stats.mean_half_width(s_, n_, level)
        out.append(0.0 if math.isnan(half) else half)
    return out


def plot_domains(agg: pd.DataFrame, path: Path, level: float = 0.95) -> Path:
    """Grouped bars: x = domains and averages, one bar per group, error bars = the t
    interval of the group mean (t_{n−1} · std / √n; none for a single run)."""
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
    """Horizontal bars of Δ (percent points) vs baseline of the main averages per group,
    with the comparison's interval as error bar when ``comps`` (:func:`comparisons`) is
    given (bars then show its Δ: paired by seed when possible); ``None`` when no delta
    is available."""
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


def versus_comparisons(runs: Sequence[Run], key: str, baseline: Mapping[str, Any] | None = None,
                       ignore: Sequence[str] = DEFAULT_IGNORED, ci: str = "t", test: str = "signflip",
                       level: float = 0.95, n_resamples: int = stats.BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    """:func:`comparisons` at each value of the swept config value ``key``: every group
    (labels as in :func:`versus_frame`) against the closest baseline group *at the same
    value*, paired by seed. Columns: ``key`` then :data:`COMPARISON_COLUMNS`; empty when
    no baseline exists."""
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


def plot_versus_deltas(vc: pd.DataFrame, key: str, path: Path, level: float = 0.95) -> Path | None:
    """Δ vs baseline against ``key``, one panel per main average (and ``adverse − clear`` /
    ``Avg2 − Avg3``), one line per group, error bars = the comparison's interval;
    ``None`` without comparisons."""
    keys = [m for m in (*REAL_AVERAGES, "mean", "adverse", "clear", *CONTRASTS, "boundary_acc")
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


def versus_table(vs: pd.DataFrame, key: str) -> pd.DataFrame:
    """Wide table: one row per (group, ``key`` value), one column per metric (mean ± std)."""
    rows = []
    for (group, x), sub in vs.groupby(["group", key], sort=False):
        row: dict[str, Any] = {"group": group, key: x}
        for _, r in sub.iterrows():
            row[r["metric"]] = fmt_mean_std(r["mean"], r["std"], int(r["n"]))
        rows.append(row)
    return pd.DataFrame(rows)


def plot_versus(vs: pd.DataFrame, key: str, path: Path, level: float = 0.95) -> Path:
    """One panel per domain (and the averages): mIoU against ``key``, one line per group,
    error bars = t interval of the mean over seeds."""
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


# ---------------------------------------------------------------------------- CLI
def write_report(runs: Sequence[Run], out: Path, baseline: Mapping[str, Any] | None = None,
                 ignore: Sequence[str] = DEFAULT_IGNORED, ci: str = "t", test: str = "signflip",
                 level: float = 0.95, n_resamples: int = stats.BOOTSTRAP_RESAMPLES) -> pd.DataFrame:
    """Write every table and plot to ``out``; returns the summary table. ``ci``, ``test``,
    ``level``, ``n_resamples``: the comparison with the baseline (:func:`comparisons`)."""
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
    """``versus_<key>.md|csv`` (table) and ``versus_<key>.png`` (mIoU against ``key``); when
    a baseline exists at some value, ``versus_<key>_delta.md|csv|png``: Δ vs the baseline
    at the same value with its interval (:func:`versus_comparisons`)."""
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
                             "(e.g. data.misalignment_px): versus_<KEY>.md|csv|png, and Δ vs the baseline "
                             "at each value: versus_<KEY>_delta.md|csv|png")
    parser.add_argument("--group-by", choices=GROUP_BY, default="overrides",
                        help="overrides (default): runs with the same overrides minus seed form a group; "
                             "folder: runs in the same parent folder (relative to DIR) form a group")
    parser.add_argument("--ci", choices=stats.CI_METHODS, default="t",
                        help="interval of Δ: t (default; Student t on the per-seed differences) or bootstrap "
                             f"(percentile, --resamples resamples, generator seed {stats.BOOTSTRAP_SEED})")
    parser.add_argument("--test", choices=stats.TESTS, default="signflip",
                        help="p-value of Δ: signflip (default; exact sign-flip permutation test of the mean "
                             "difference), wilcoxon (signed-rank) or t (paired t)")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    parser.add_argument("--resamples", type=int, default=stats.BOOTSTRAP_RESAMPLES,
                        help=f"bootstrap resamples (default {stats.BOOTSTRAP_RESAMPLES})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not 0.0 < args.level < 1.0 or args.resamples < 1:
        print(f"error: --level must be in (0, 1) and --resamples positive, got {args.level}, {args.resamples}",
              file=sys.stderr)
        return 2
    try:
        runs = load_runs(args.dirs, args.group_by)
        baseline = parse_key_values(args.baseline) or None
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or args.dirs[0] / "report"
    options = {"ci": args.ci, "test": args.test, "level": args.level, "n_resamples": args.resamples}
    summary = write_report(runs, out, baseline, (*DEFAULT_IGNORED, *args.ignore), **options)
    print(to_markdown(summary))
    if args.versus:
        try:
            table = write_versus(runs, args.versus, out, (*DEFAULT_IGNORED, *args.ignore), baseline, **options)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(to_markdown(table))
    print(f"{len(runs)} runs in {summary.shape[0]} groups → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
