"""The results of one run: ``results.json``, the per-domain tables and the paper's averages.

``flexseg.train`` and ``flexseg.eval`` write a run's results with :func:`results_summary`
(→ ``results.json``) and :func:`write_tables` (→ ``results.md`` / ``results.csv``);
``python -m flexseg.report`` reads them back (:func:`read_results`) and turns them into
per-run metrics in percent (:func:`run_metrics`). Averages (docs/design.md §1,
docs/report.md): real targets → Avg2 = mean(ACDC, DZ), Avg3 = mean(CS, BDD, MV),
Avg5 = all five; synthdrive → ``mean`` over all domains and ``adverse`` over
fog/night/rain/snow and ``adverse_phys`` over fog_dense/night_dark/rain_lens/snow_storm
(flexseg/protocol.py). No pandas here: the training and evaluation commands import it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol

from flexseg.protocol import REAL_AVERAGES, REAL_DOMAINS, SYNTH_ADVERSE, SYNTH_ADVERSE_PHYS, SYNTH_AVERAGES, averages, canonical_domain
from flexseg.utils.tables import markdown_table, write_csv

__all__ = ["REAL_AVERAGES", "REAL_DOMAINS", "SYNTH_ADVERSE", "SYNTH_ADVERSE_PHYS", "SYNTH_AVERAGES", "averages",
           "canonical_domain", "read_results", "results_summary", "run_metrics", "write_tables"]
# REAL_DOMAINS, REAL_AVERAGES, SYNTH_ADVERSE(_PHYS), SYNTH_AVERAGES, canonical_domain and averages are facts of the
# evaluation protocol (flexseg/protocol.py); they stay importable from here.


class HasResults(Protocol):
    """What :func:`run_metrics` reads of a run: its ``results.json`` payload
    (:class:`flexseg.report.discovery.Run` is one; discovery imports this module, not the
    other way round)."""

    results: dict[str, Any]


def results_summary(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The results.json payload of per-domain test results.

    Train and eval add ``averages`` (:func:`averages`: the paper's Avg2/Avg3/Avg5 on the
    real targets, else mean/adverse) and train a held-out ``val`` summary.

    Args:
        results: domain → ``{"miou", "acc", "boundary_acc", "interior_acc"}`` (fractions
            0–1) and ``"iou"`` (class name → IoU), as ``SegModule.results`` holds them.

    Returns:
        ``miou`` (domain → mIoU), ``mean`` (mean of the finite mIoUs, NaN if none),
        ``boundary_acc``, ``interior_acc``, ``acc`` (domain → value) and ``iou``
        (domain → class → IoU).

    Example:
        >>> r = {"clear": {"miou": 0.5, "acc": 0.9, "boundary_acc": 0.6, "interior_acc": 0.95, "iou": {"road": 0.8}},
        ...      "fog": {"miou": 0.3, "acc": 0.8, "boundary_acc": 0.4, "interior_acc": 0.9, "iou": {"road": 0.7}}}
        >>> s = results_summary(r)
        >>> s["miou"], s["mean"], s["iou"]["fog"]
        ({'clear': 0.5, 'fog': 0.3}, 0.4, {'road': 0.7})
    """
    mious = {d: r["miou"] for d, r in results.items()}
    finite = [v for v in mious.values() if not math.isnan(v)]
    return {
        "miou": mious,
        "mean": sum(finite) / len(finite) if finite else float("nan"),
        "boundary_acc": {d: r["boundary_acc"] for d, r in results.items()},
        "interior_acc": {d: r["interior_acc"] for d, r in results.items()},
        "acc": {d: r["acc"] for d, r in results.items()},
        "iou": {d: r["iou"] for d, r in results.items()},
    }


def write_tables(results: Mapping[str, Mapping[str, Any]], out_dir: Path) -> dict[str, float]:
    """``results.md`` (paper-style summary + per-domain + per-class tables, percent) and
    ``results.csv`` (fractions) of one run in ``out_dir``.

    Args:
        results: per-domain test results as for :func:`results_summary`.
        out_dir: an existing folder (the run directory).

    Returns:
        The summary :func:`averages` of the mIoUs (Avg2/Avg3/Avg5 for the real targets,
        else mean/adverse), fractions.
    """
    classes = list(next(iter(results.values()))["iou"]) if results else []
    write_csv(out_dir / "results.csv", ["domain", "miou", "acc", "boundary_acc", "interior_acc", *classes],
              ([d, r["miou"], r["acc"], r["boundary_acc"], r["interior_acc"], *(r["iou"][c] for c in classes)]
               for d, r in results.items()))
    fmt = lambda v: "—" if v is None or math.isnan(v) else f"{100 * v:.2f}"  # noqa: E731
    avgs = averages({d: r["miou"] for d, r in results.items()})
    names = [canonical_domain(d) for d in results]
    summary = markdown_table(names + list(avgs), [[fmt(r["miou"]) for r in results.values()] + [fmt(v) for v in avgs.values()]])
    per_domain = markdown_table(["domain", "mIoU", "acc", "boundary acc", "interior acc"],
                                ([d, *(fmt(r[k]) for k in ("miou", "acc", "boundary_acc", "interior_acc"))]
                                 for d, r in results.items()))
    per_class = markdown_table(["class", *names], ([c, *(fmt(r["iou"][c]) for r in results.values())] for c in classes))
    (out_dir / "results.md").write_text(
        f"## mIoU (%)\n\n{summary}\n## Per domain (%)\n\n{per_domain}\n## Per-class IoU (%)\n\n{per_class}")
    return avgs


def read_results(results_file: Path) -> dict[str, Any]:
    """The payload of a run's ``results.json``.

    Args:
        results_file: path of the file.

    Returns:
        The parsed JSON object (fractions 0–1), with a per-domain ``miou`` mapping.

    Raises:
        ValueError: the file is unreadable, not JSON, or has no ``miou`` mapping (the
            message names the file).

    Example:
        >>> read_results(Path("no/such/results.json"))
        Traceback (most recent call last):
        ...
        ValueError: cannot read no/such/results.json: [Errno 2] No such file or directory: 'no/such/results.json'
    """
    try:
        results = json.loads(results_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {results_file}: {err}") from err
    if not isinstance(results, dict) or not isinstance(results.get("miou"), dict):
        raise ValueError(f"{results_file} has no per-domain 'miou' mapping (not a FlexSeg results.json)")
    return results


def _mean(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def run_metrics(run: HasResults) -> dict[str, float]:
    """Per-run metrics in percent.

    Args:
        run: a finished run (only ``run.results``, the results.json payload, is read).

    Returns:
        ``<domain>`` mIoU (canonical names), the :func:`averages`, ``boundary_acc`` /
        ``interior_acc`` (mean over domains) and per-domain ``boundary_acc/<domain>``,
        ``interior_acc/<domain>``.

    Example:
        >>> from flexseg.report.discovery import Run
        >>> run = Run(Path("r"), {"miou": {"clear": 0.5, "fog": 0.25}, "boundary_acc": {"clear": 0.5, "fog": 0.7}})
        >>> m = run_metrics(run)
        >>> m["clear"], m["mean"], m["adverse"], m["boundary_acc"], m["boundary_acc/fog"]
        (50.0, 37.5, 25.0, 60.0, 70.0)
    """
    miou = {canonical_domain(d): 100 * float(v) for d, v in run.results["miou"].items() if v is not None}
    out: dict[str, float] = dict(miou)
    out.update(averages(miou))
    for key in ("boundary_acc", "interior_acc"):
        per_domain = {canonical_domain(d): 100 * float(v) for d, v in (run.results.get(key) or {}).items() if v is not None}
        if per_domain:
            out[key] = _mean(per_domain.values())
            out.update({f"{key}/{d}": v for d, v in per_domain.items()})
    return out
