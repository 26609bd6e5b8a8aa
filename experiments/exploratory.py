"""Exploratory paired contrasts quoted in experiments/*.md, docs/synthdrive.md and the README.

The pre-declared comparisons (H1–H3, G1–G3) come from ``flexseg.report``; the figures
below are contrasts the report does not form by itself — a change of the gain between two
grid points (difference of differences), or what a setting does to one arm — computed
from the committed ``experiments/results/*/runs.csv`` (one row per run) with the same
paired statistics (:func:`flexseg.stats.paired`: mean of per-seed values, 95 % Student t
interval, two-sided sign-flip p; seeds present in every term only). They are exploratory:
not declared before the runs, not corrected for multiplicity.

    python experiments/exploratory.py            # → experiments/results/exploratory.md
    bash experiments/synthdrive.sh exploratory   # the same
"""
from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

from flexseg.report.tables import fmt_delta_ci, fmt_p
from flexseg.stats import paired

RESULTS = Path(__file__).resolve().parent / "results"

# A contrast is a signed sum of terms (coefficient, runs.csv folder, group); the value of a
# term for a seed is that run's metric, so ((+1, A), (-1, B)) is the paired difference A − B.
Term = tuple[int, str, str]

MAIN10 = "synthdrive10_main"
GRID = "synthdrive10_grid"
WIDTH = "synthdrive10_grid_width"
PILOT_PX = "synthdrive_misalignment"
PILOT_ABL = "synthdrive_ablation"
ADVERSE = "synthdrive10_adverse"


def gain(folder: str, flex: str, off: str, sign: int = 1) -> list[Term]:
    """Terms of FLEX-Seg − baseline within one folder (times ``sign``)."""
    return [(sign, folder, flex), (-sign, folder, off)]


# (section, label, terms, metrics); seeds: the intersection over the terms.
CONTRASTS: list[tuple[str, str, list[Term], tuple[str, ...]]] = [
    # --- grid, misalignment (G1, exploratory part); 0/12 px points have seeds 0–2
    ("grid px (G1)", "Δ(12 px) − Δ(0 px)",
     gain(GRID, "data.misalignment_px=12", "data.misalignment_px=12 flex=off")
     + gain(GRID, "data.misalignment_px=0", "data.misalignment_px=0 flex=off", -1), ("mean", "clear", "adverse")),
    ("grid px (G1)", "`flex=off`: 12 px − 0 px",
     [(1, GRID, "data.misalignment_px=12 flex=off"), (-1, GRID, "data.misalignment_px=0 flex=off")], ("mean",)),
    ("grid px (G1)", "FLEX-Seg: 12 px − 0 px",
     [(1, GRID, "data.misalignment_px=12"), (-1, GRID, "data.misalignment_px=0")], ("mean",)),
    # --- grid, 3× training (G2, exploratory part); 800 steps = main10 seeds 0–2
    ("grid 2400 steps (G2)", "Δ at 800 steps, seeds 0–2 (`main10`)",
     gain(MAIN10, "flex", "off") + [(0, GRID, "trainer.max_steps=2400")], ("mean", "boundary_acc")),
    ("grid 2400 steps (G2)", "Δ(2400) − Δ(800)",
     gain(GRID, "trainer.max_steps=2400", "flex=off trainer.max_steps=2400") + gain(MAIN10, "flex", "off", -1),
     ("mean", "boundary_acc")),
    ("grid 2400 steps (G2)", "`flex=off`: 2400 − 800 steps",
     [(1, GRID, "flex=off trainer.max_steps=2400"), (-1, MAIN10, "off")], ("mean",)),
    ("grid 2400 steps (G2)", "FLEX-Seg: 2400 − 800 steps",
     [(1, GRID, "trainer.max_steps=2400"), (-1, MAIN10, "flex")], ("mean",)),
    # --- grid, head width (G3, exploratory part); width 32 = main10 seeds 0–2
    ("grid width 256 (G3)", "Δ(width 256) − Δ(width 32)",
     gain(WIDTH, "flex", "off") + gain(MAIN10, "flex", "off", -1), ("mean",)),
    ("grid width 256 (G3)", "`flex=off`: width 256 − 32",
     [(1, WIDTH, "off"), (-1, MAIN10, "off")], ("mean",)),
    ("grid width 256 (G3)", "FLEX-Seg: width 256 − 32",
     [(1, WIDTH, "flex"), (-1, MAIN10, "flex")], ("mean",)),
    # --- the 3-seed pilot's misalignment stream (experiments/misalignment.md)
    ("pilot misalignment", "Δ(8 px) − Δ(4 px)",
     gain(PILOT_PX, "data.misalignment_px=8 flex=default", "data.misalignment_px=8 flex=off")
     + gain(PILOT_PX, "flex=default", "flex=off", -1), ("mean", "boundary_acc")),
    ("pilot misalignment", "`flex=off`: 8 px − 4 px",
     [(1, PILOT_PX, "data.misalignment_px=8 flex=off"), (-1, PILOT_PX, "flex=off")], ("mean",)),
    ("pilot misalignment", "FLEX-Seg: 8 px − 4 px",
     [(1, PILOT_PX, "data.misalignment_px=8 flex=default"), (-1, PILOT_PX, "flex=default")], ("mean",)),
    ("pilot misalignment", "Δ at 8 px",
     gain(PILOT_PX, "data.misalignment_px=8 flex=default", "data.misalignment_px=8 flex=off"),
     ("mean", "boundary_acc")),
    ("pilot misalignment", "Δ at 4 px",
     gain(PILOT_PX, "flex=default", "flex=off"), ("mean", "boundary_acc")),
    # --- the 3-seed pilot's module ablation (experiments/ablation_modules.md)
    ("pilot ablation", "GAP+UBE − UBE only",
     [(1, PILOT_ABL, "flex.gap.enabled=True flex.has.enabled=False"),
      (-1, PILOT_ABL, "flex.gap.enabled=False flex.has.enabled=False")], ("mean",)),
    ("pilot ablation", "all three − GAP+UBE (what HAS adds)",
     [(1, PILOT_ABL, "flex=default"), (-1, PILOT_ABL, "flex.gap.enabled=True flex.has.enabled=False")], ("mean",)),
    ("pilot ablation", "UBE only − `flex=off`",
     [(1, PILOT_ABL, "flex.gap.enabled=False flex.has.enabled=False"), (-1, PILOT_ABL, "flex=off")],
     ("mean", "boundary_acc", "interior_acc")),
    # --- adverse (experiments/synthdrive_adverse.md): its classic domains replicate main10 on another CPU
    ("adverse replicate", "Δ(adverse runs) − Δ(`main10`) on the classic domains",
     gain(ADVERSE, "flex", "off") + gain(MAIN10, "flex", "off", -1), ("clear", "adverse", "adverse − clear")),
]

# Relative gains (exploratory, synthdrive_adverse.md): per seed 100·(FLEX-Seg / baseline − 1) on
# ``metric``, minus the same on ``minus`` when given — a gain in proportion to the baseline's
# score, so a domain near the bottom of the scale is not penalised for its small absolute room.
# (section, label, folder, flex group, baseline group, metric, minus metric or None)
RELATIVE: list[tuple[str, str, str, str, str, str, str | None]] = [
    ("adverse relative", "relative gain (%)", ADVERSE, "flex", "off", "clear", None),
    ("adverse relative", "relative gain (%)", ADVERSE, "flex", "off", "adverse", None),
    ("adverse relative", "relative gain (%)", ADVERSE, "flex", "off", "adverse_phys", None),
    ("adverse relative", "relative gain (%): adverse_phys − clear", ADVERSE, "flex", "off", "adverse_phys", "clear"),
    ("adverse relative", "relative gain (%): adverse_phys − adverse", ADVERSE, "flex", "off", "adverse_phys", "adverse"),
]


def load(folder: str) -> dict[tuple[str, int], dict[str, str]]:
    """Rows of ``results/<folder>/runs.csv`` keyed by (group, seed)."""
    path = RESULTS / folder / "runs.csv"
    if not path.is_file():
        raise SystemExit(f"{path} not found: run the report stage that writes it (bash experiments/synthdrive.sh …)")
    with path.open() as f:
        return {(row["group"], int(row["seed"])): row for row in csv.DictReader(f)}


def shared_seeds(groups: Sequence[tuple[str, str]], tables: dict[str, dict]) -> list[int]:
    """Seeds that every (folder, group) has a run of, sorted; a group without runs is named."""
    seed_sets = []
    for folder, group in groups:
        seeds = {s for g, s in tables[folder] if g == group}
        if not seeds:
            raise SystemExit(f"no runs of group {group!r} in results/{folder}/runs.csv")
        seed_sets.append(seeds)
    return sorted(set.intersection(*seed_sets))


def per_seed(terms: Sequence[Term], metric: str, tables: dict[str, dict]) -> dict[int, float]:
    """The contrast's value for every seed that all terms share."""
    seeds = shared_seeds([(folder, group) for _, folder, group in terms], tables)
    return {s: sum(c * metric_value(tables[folder][(group, s)], metric) for c, folder, group in terms if c)
            for s in seeds}


def metric_value(row: dict[str, str], metric: str) -> float:
    """A runs.csv value; ``"a − b"`` is the difference of two columns (H2's contrast)."""
    if " − " in metric:
        a, b = metric.split(" − ")
        return float(row[a]) - float(row[b])
    return float(row[metric])


def relative_gain(folder: str, flex: str, off: str, metric: str, minus: str | None,
                  tables: dict[str, dict]) -> dict[int, float]:
    """Per seed (both groups present): 100·(flex/off − 1) on ``metric`` [− the same on ``minus``], percent.

    Example:
        >>> t = {"f": {("a", 0): {"m": "12", "n": "50"}, ("b", 0): {"m": "10", "n": "40"}}}
        >>> relative_gain("f", "a", "b", "m", "n", t)
        {0: -5.0}
    """
    rows = tables[folder]
    seeds = shared_seeds([(folder, flex), (folder, off)], tables)
    if not seeds:
        raise SystemExit(f"no seed with both {flex!r} and {off!r} in results/{folder}/runs.csv")

    def rel(s: int, m: str) -> float:
        return 100.0 * (float(rows[(flex, s)][m]) / float(rows[(off, s)][m]) - 1.0)

    return {s: rel(s, metric) - (rel(s, minus) if minus else 0.0) for s in seeds}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "exploratory.md")
    args = parser.parse_args(argv)
    folders = {t[1] for _, _, terms, _ in CONTRASTS for t in terms} | {r[2] for r in RELATIVE}
    tables = {folder: load(folder) for folder in sorted(folders)}
    lines = ["# Exploratory paired contrasts (percent points; 95 % paired t; p: two-sided sign-flip)", "",
             "Written by `python experiments/exploratory.py` from the committed `results/*/runs.csv`;",
             "exploratory (not pre-declared, not corrected for multiplicity). Per seed: the contrast's",
             "value for each seed present in every term.", "",
             "| section | contrast | metric | Δ [95 % CI] | p | n | per seed |", "|---|---|---|---|---|---|---|"]
    rows = [(section, label, metric, per_seed(terms, metric, tables))
            for section, label, terms, metrics in CONTRASTS for metric in metrics]
    rows += [(section, label, metric, relative_gain(folder, flex, off, metric, minus, tables))
             for section, label, folder, flex, off, metric, minus in RELATIVE]
    for section, label, metric, values in rows:
        c = paired(list(values.values()))
        seeds = ", ".join(f"{s}: {v:+.2f}" for s, v in values.items())
        lines.append(f"| {section} | {label} | {metric} | {fmt_delta_ci(c.delta, c.low, c.high)} | {fmt_p(c.p_value)} "
                     f"| {c.n_pairs} | {seeds} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"→ {args.out}")


if __name__ == "__main__":
    main()
