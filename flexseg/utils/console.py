"""Rich tables for results printed at the end of a run."""
from __future__ import annotations

import math
from typing import Mapping

from rich.console import Console
from rich.table import Table

from flexseg.protocol import canonical_domain


def _pct(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def results_table(results: Mapping[str, Mapping[str, float]], title: str = "Per-domain results (%)") -> Table:
    """Table with one row per domain: mIoU, pixel acc, boundary acc, interior acc."""
    table = Table(title=title)
    for col in ("domain", "mIoU", "acc", "boundary acc", "interior acc"):
        table.add_column(col, justify="left" if col == "domain" else "right")
    for domain, r in results.items():
        table.add_row(domain, _pct(r["miou"]), _pct(r.get("acc")), _pct(r.get("boundary_acc")), _pct(r.get("interior_acc")))
    if results:
        mean = sum(r["miou"] for r in results.values()) / len(results)
        table.add_row("[bold]mean", f"[bold]{_pct(mean)}", "", "", "")
    return table


def paper_table(results: Mapping[str, Mapping[str, float]], averages: Mapping[str, float]) -> Table | None:
    """The paper's row (ACDC, DZ, CS, BDD, MV, Avg2, Avg3, Avg5) when the averages hold Avg columns."""
    if not any(k.startswith("Avg") for k in averages):
        return None
    table = Table(title="mIoU (%), paper columns")
    names = [canonical_domain(d) for d in results] + list(averages)
    for name in names:
        table.add_column(name, justify="right")
    table.add_row(*[_pct(r["miou"]) for r in results.values()], *[_pct(v) for v in averages.values()])
    return table


def print_results(results: Mapping[str, Mapping[str, float]], title: str = "Per-domain results (%)",
                  averages: Mapping[str, float] | None = None) -> None:
    """The per-domain table, then (real targets) the paper-column row."""
    console = Console()
    console.print(results_table(results, title))
    paper = paper_table(results, averages or {})
    if paper is not None:
        console.print(paper)
