"""Compare error analyses of several checkpoints:
``python -m flexseg.analysis.compare DIR... [--labels NAME...] [--out OUT]``.

Each DIR is the run directory of a ``python -m flexseg.analyze`` run (``analysis.json``).
Writes ``compare.md`` / ``compare.csv`` (error rate per region and domain for each run,
and the difference to the first run, in percent points) and ``compare.png`` (one panel
per domain: error rate per region, one bar per run).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from flexseg.utils.tables import markdown_table, write_csv

REGION_ORDER = ("thin", "medium", "thick", "interior", "boundary")


def load_analysis(path: str | Path) -> dict[str, Any]:
    """``analysis.json`` of a run directory (or the file itself)."""
    path = Path(path)
    file = path / "analysis.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found: run python -m flexseg.analyze ckpt_path=... hydra.run.dir={path}")
    return json.loads(file.read_text())


def regions_of(analysis: dict[str, Any]) -> list[str]:
    first = next(iter(analysis["domains"].values()))["error_rate"]
    return [r for r in first if r != "boundary_to_interior"]


def comparison_rows(analyses: Sequence[dict[str, Any]], labels: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Rows (domain, region, error % per run, Δ of each later run vs the first)."""
    regions = regions_of(analyses[0])
    header = ["domain", "region", *labels, *(f"Δ {lab} − {labels[0]}" for lab in labels[1:])]
    rows = []
    for domain in analyses[0]["domains"]:
        for region in regions:
            values = [a["domains"].get(domain, {}).get("error_rate", {}).get(region, math.nan) for a in analyses]
            pct = [100 * v for v in values]
            rows.append([domain, region, *(f"{v:.2f}" for v in pct), *(f"{v - pct[0]:+.2f}" for v in pct[1:])])
    return header, rows


def plot_comparison(analyses: Sequence[dict[str, Any]], labels: Sequence[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    domains = list(analyses[0]["domains"])
    regions = [r for r in REGION_ORDER if r in regions_of(analyses[0]) and r != "boundary"]
    fig, axes = plt.subplots(1, len(domains), figsize=(2.9 * len(domains), 3.4), sharey=True, squeeze=False)
    x = np.arange(len(regions))
    width = 0.8 / len(analyses)
    for ax, domain in zip(axes[0], domains):
        for i, (a, lab) in enumerate(zip(analyses, labels)):
            rates = a["domains"].get(domain, {}).get("error_rate", {})
            ax.bar(x + (i - (len(analyses) - 1) / 2) * width, [100 * rates.get(r, np.nan) for r in regions], width,
                   label=lab)
        ax.set_xticks(x, regions, rotation=30, fontsize="small")
        ax.set_title(domain, fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("pixel error rate (%)")
    axes[0][0].legend(fontsize="x-small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flexseg.analysis.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="flexseg.analyze run directories (the first is the reference)")
    parser.add_argument("--labels", nargs="*", default=None, help="one name per directory (default: folder names)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <first DIR>/compare)")
    args = parser.parse_args(argv)
    labels = args.labels or [d.name for d in args.dirs]
    if len(labels) != len(args.dirs):
        print(f"error: {len(labels)} labels for {len(args.dirs)} directories", file=sys.stderr)
        return 2
    try:
        analyses = [load_analysis(d) for d in args.dirs]
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or args.dirs[0] / "compare"
    out.mkdir(parents=True, exist_ok=True)
    header, rows = comparison_rows(analyses, labels)
    write_csv(out / "compare.csv", header, rows)
    table = markdown_table(header, rows)
    (out / "compare.md").write_text("# Pixel error rate (%) by region\n\n" + table)
    plot_comparison(analyses, labels, out / "compare.png")
    print(table, end="")
    print(f"→ {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
