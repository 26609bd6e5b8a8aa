"""Check a dataset tree and (optionally) cache its train-id labels.

    python -m flexseg.data.prepare DATASET [--root DIR] [--split S[,S2]] [--cache]
                                   [--workers N] [-o KEY=VALUE ...]

Checks every image/label pair exhaustively: files present in pairs, both decodable,
label single-channel with only known values, label size = image size. Problems are
listed file by file in a table; the exit status is 0 (no errors; warnings allowed),
1 (problems), 2 (layout: missing root / split folder / no images) or 130 (interrupted).

``--cache`` writes the converted train-id labels next to the originals (naming: see
:mod:`flexseg.data.datasets.base`): each is written to a hidden temporary file and
renamed over the target, so an interrupted run never leaves a partial label; files
that are already up to date (not older than the source, and equal to its conversion)
are skipped, so reruns are cheap and continue where an interrupted run stopped.

``--stats`` (GTA, any training set) counts the pixels of every train id in every label
once and writes ``<root>/sample_class_stats.json`` (+ ``samples_with_class.json``), the
class statistics of rare-class sampling (:mod:`flexseg.data.rcs`; DAFormer's file format).
``--subset N`` (needs the statistics; computes them when missing) writes a split file of
N distinct frames drawn by rare-class sampling (``--temperature`` 0.01, ``--min-pixels``
3000, ``--seed`` 0), one ``name,class`` per line — DGInStyle's ``gta6000_rcs1e-2`` subset
of the DAFormer setting is ``--subset 6000``, written to ``<root>/gta6000_rcs1e-2.txt``
(``--subset-file`` to change), which ``data.train_sets.gta.split_file`` reads
(docs/data_protocol.md).

DATASET is one of ``flexseg.data.datasets.REGISTRY``; ``--root`` defaults to
``$FLEXSEG_DATA/<folder>`` or ``data/<folder>`` (folder: gta, cityscapes, bdd100k,
mapillary, acdc, dark_zurich, dginstyle for ``generated``). ``-o`` passes builder
options, values parsed as YAML (``-o conditions=[fog,night]``, ``-o label_encoding=ids``).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from flexseg.data.datasets import INFOS, REGISTRY, build
from flexseg.data.datasets.base import (
    DatasetError,
    DatasetLayoutError,
    PairedFolderDataset,
    Problem,
    read_image,
    read_label,
)

EXIT_OK, EXIT_PROBLEMS, EXIT_LAYOUT, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class Report:
    """Outcome of checking one dataset split."""

    dataset: str
    root: Path
    split: str
    num_pairs: int = 0
    problems: list[Problem] = field(default_factory=list)
    cache: Counter[str] = field(default_factory=Counter)   # status → count
    layout_error: str | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def exit_code(self) -> int:
        if self.layout_error is not None:
            return EXIT_LAYOUT
        return EXIT_PROBLEMS if self.errors else EXIT_OK


def default_root(dataset: str) -> Path:
    """``$FLEXSEG_DATA/<folder>`` or ``data/<folder>`` for ``dataset``."""
    base = os.environ.get("FLEXSEG_DATA") or "data"
    return Path(base).expanduser() / INFOS[dataset].folder


def write_label_atomic(path: Path, label: np.ndarray) -> None:
    """Write a uint8 label PNG via a hidden temporary file + rename (never a partial file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8)).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_sample(ds: PairedFolderDataset, index: int, cache: bool = False) -> tuple[list[Problem], str]:
    """Exhaustively check pair ``index``; with ``cache`` write its train-id label.

    Returns the problems and the cache status: "not needed" (labels already train ids),
    "up to date", "written", "missing" (no cache, --cache not given), "stale" (cache
    differs from the source) or "skipped" (the label has problems).
    """
    image_path, lf = ds.image_paths[index], ds.label_files[index]
    problems: list[Problem] = []
    image = raw = None
    try:
        image = read_image(image_path)
    except DatasetError as e:
        problems.append(Problem(image_path, str(e)))
    try:
        raw = read_label(lf.path)
    except DatasetError as e:
        problems.append(Problem(lf.path, str(e)))
    unknown: list[int] = []
    if raw is not None:
        unknown = lf.converter.unknown_values(raw)
        if unknown:
            shown = ", ".join(map(str, unknown[:20])) + (" …" if len(unknown) > 20 else "")
            ignored = ds.unknown_ids == "ignore"
            problems.append(Problem(
                lf.path, f"label values not in the {lf.converter.name} encoding: {shown}"
                + (" (mapped to 255: unknown_ids=ignore)" if ignored else ""),
                "warning" if ignored else "error"))
        if image is not None and raw.shape != image.shape[:2]:
            resized = ds.size_mismatch == "resize"
            problems.append(Problem(
                lf.path, f"label size {raw.shape[1]}x{raw.shape[0]} differs from image {image_path.name} "
                f"({image.shape[1]}x{image.shape[0]})" + (" (resized at load: size_mismatch=resize)" if resized else ""),
                "warning" if resized else "error"))
    if lf.cache is None:
        return problems, "not needed"
    if raw is None or (unknown and ds.unknown_ids == "error"):
        return problems, "skipped"
    train = lf.converter(raw, lf.path, ds.unknown_ids)
    if lf.cache_is_fresh():
        try:
            cached = read_label(lf.cache)
            if cached.shape == train.shape and np.array_equal(cached, train):
                return problems, "up to date"
        except DatasetError:
            pass
        if not cache:
            problems.append(Problem(lf.cache, "cached train-id label differs from its source label; "
                                              "rerun prepare with --cache"))
            return problems, "stale"
    elif not cache:
        return problems, "missing"
    write_label_atomic(lf.cache, train)
    return problems, "written"


def check(
    dataset: str,
    root: Path | str,
    split: str,
    *,
    cache: bool = False,
    workers: int = 1,
    options: dict[str, Any] | None = None,
    console: Console | None = None,
) -> Report:
    """Check ``dataset``/``split`` under ``root`` (see the module docstring)."""
    root = Path(root)
    report = Report(dataset, root, split)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unpaired files come back as problems
            ds = build(dataset, root, split, strict=False, **(options or {}))
    except DatasetLayoutError as e:
        report.layout_error = str(e)
        return report
    report.num_pairs = len(ds)
    report.problems.extend(ds.problems)
    results: dict[int, tuple[list[Problem], str]] = {}
    progress = Progress(TextColumn(f"{dataset}/{split}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console or Console(stderr=True), transient=True)
    with progress, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        task = progress.add_task("check", total=len(ds))
        futures = {pool.submit(check_sample, ds, i, cache): i for i in range(len(ds))}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress.advance(task)
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    for i in sorted(results):
        problems, status = results[i]
        report.problems.extend(problems)
        report.cache[status] += 1
    return report


def print_report(report: Report, console: Console) -> None:
    """A summary line and a file-by-file problem table."""
    head = f"[bold]{report.dataset}[/] split [bold]{report.split}[/] at {report.root}"
    if report.layout_error is not None:
        console.print(f"{head}: [red]layout error[/]", soft_wrap=True)
        console.print(report.layout_error, markup=False, highlight=False, soft_wrap=True)
        return
    n_err, n_warn = len(report.errors), len(report.problems) - len(report.errors)
    status = "[green]OK[/]" if not n_err else f"[red]{n_err} error(s)[/]"
    console.print(f"{head}: {report.num_pairs} image/label pairs, {status}, {n_warn} warning(s)", soft_wrap=True)
    if report.cache:
        console.print("labels: " + ", ".join(f"{n} {s}" for s, n in sorted(report.cache.items())))
        if report.cache.get("missing"):
            console.print("  (converted on the fly; run with --cache to write train-id labels)")
    if report.problems:
        table = Table(title=f"{report.dataset}/{report.split}: problems", show_lines=False)
        table.add_column("severity")
        table.add_column("file (relative to root)", overflow="fold")
        table.add_column("problem", overflow="fold")
        for p in report.problems:
            try:
                rel = str(p.path.relative_to(report.root))
            except ValueError:
                rel = str(p.path)
            colour = "red" if p.severity == "error" else "yellow"
            table.add_row(f"[{colour}]{p.severity}[/]", rel, p.message.replace(str(p.path), rel))
        console.print(table)


def class_stats(dataset: str, root: Path, split: str, *, workers: int = 1,
                options: dict[str, Any] | None = None, console: Console | None = None) -> Path:
    """Compute and write the class pixel statistics of ``dataset``/``split`` (``--stats``)."""
    from flexseg.data.rcs import label_class_pixels, write_class_stats

    ds = build(dataset, root, split, **(options or {}))
    rel = []
    for lf in ds.label_files:
        try:
            rel.append(str(lf.path.relative_to(root)))
        except ValueError:
            rel.append(str(lf.path))
    counts: dict[int, dict[int, int]] = {}
    progress = Progress(TextColumn(f"{dataset}/{split} class statistics"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=console or Console(stderr=True), transient=True)
    with progress, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        task = progress.add_task("stats", total=len(ds))
        futures = {pool.submit(lambda i: label_class_pixels(ds.load_label(i)), i): i for i in range(len(ds))}
        for future in as_completed(futures):
            counts[futures[future]] = future.result()
            progress.advance(task)
    return write_class_stats(root, [(rel[i], counts[i]) for i in range(len(ds))])


def write_subset(root: Path, num_files: int, out: Path | None = None, *, temperature: float = 0.01,
                 min_pixels: int = 3000, seed: int = 0) -> Path:
    """Write the rare-class subset split file of ``--subset`` (sorted by name; see the module docstring)."""
    from flexseg.data.rcs import STATS_FILE, rcs_subset, read_class_stats

    stats = read_class_stats(root / STATS_FILE)
    keys = sorted(stats)
    chosen = rcs_subset([stats[k] for k in keys], num_files, temperature, min_pixels, seed)
    if out is None:
        out = root / f"gta{num_files}_rcs1e{round(math.log10(temperature))}.txt"
    lines = sorted(f"{keys[f]},{c}" for f, c in chosen)
    header = (f"# {num_files} frames drawn by rare-class sampling: T={temperature}, min_pixels={min_pixels}, "
              f"seed={seed} (python -m flexseg.data.prepare gta --subset {num_files})\n")
    out.write_text(header + "\n".join(lines) + "\n")
    return out


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings → dict, values parsed as YAML."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"option {item!r} is not KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flexseg.data.prepare", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(REGISTRY))
    parser.add_argument("--root", type=Path, default=None,
                        help="dataset folder (default $FLEXSEG_DATA/<folder> or data/<folder>)")
    parser.add_argument("--split", default=None, help="split(s), comma-separated (default: the dataset's usual one)")
    parser.add_argument("--cache", action="store_true", help="write converted train-id labels next to the originals")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="parallel threads")
    parser.add_argument("--stats", action="store_true",
                        help="write <root>/sample_class_stats.json (class pixels per label; rare-class sampling)")
    parser.add_argument("--subset", type=int, default=None, metavar="N",
                        help="write a split file of N frames drawn by rare-class sampling (DAFormer setting: 6000)")
    parser.add_argument("--subset-file", type=Path, default=None,
                        help="output of --subset (default <root>/gta<N>_rcs1e<log10 T>.txt)")
    parser.add_argument("--temperature", type=float, default=0.01, help="RCS temperature T of --subset (0.01)")
    parser.add_argument("--min-pixels", type=int, default=3000, help="RCS min_pixels of --subset (3000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --subset (0)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="builder option, e.g. -o conditions=[fog,night]")
    args = parser.parse_args(argv)
    try:
        options = parse_options(args.option)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    root = args.root if args.root is not None else default_root(args.dataset)
    splits = [s for s in (args.split or INFOS[args.dataset].default_split).split(",") if s]
    console = Console()
    code = EXIT_OK
    for split in splits:
        try:
            report = check(args.dataset, root, split, cache=args.cache, workers=args.workers, options=options)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: labels written so far are complete; rerun to continue.")
            return EXIT_INTERRUPTED
        print_report(report, console)
        code = max(code, report.exit_code)
    if code != EXIT_OK and (args.stats or args.subset is not None):
        console.print("[red]class statistics / subset not written[/]: fix the problems above first")
    if code == EXIT_OK and (args.stats or args.subset is not None):
        from flexseg.data.rcs import STATS_FILE

        if args.stats or not (root / STATS_FILE).is_file():
            path = class_stats(args.dataset, root, splits[0], workers=args.workers, options=options)
            console.print(f"class statistics: {path}")
        if args.subset is not None:
            try:
                path = write_subset(root, args.subset, args.subset_file, temperature=args.temperature,
                                    min_pixels=args.min_pixels, seed=args.seed)
            except ValueError as e:
                console.print(f"[red]subset[/]: {e}")
                return EXIT_PROBLEMS
            console.print(f"rare-class subset ({args.subset} frames): {path}  "
                          f"(use it with data.train_sets.gta.split_file={path})")
    return code


if __name__ == "__main__":
    sys.exit(main())
