"""The command line: ``python -m flexseg.report DIR... [--out OUT] [options]`` (docs/report.md)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from flexseg import stats
from flexseg.report.baselines import parse_key_values
from flexseg.report.discovery import DEFAULT_IGNORED, GROUP_BY, load_runs
from flexseg.report.tables import to_markdown
from flexseg.report.write import write_report, write_versus

__all__ = ["DESCRIPTION", "main"]

#: The first line of ``--help``.
DESCRIPTION = "Result tables and plots from finished runs: ``python -m flexseg.report DIR... [--out OUT]``."


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flexseg.report``: read the runs, write the report, print its summary.

    Args:
        argv: the command-line arguments (``None``: ``sys.argv[1:]``); options in
            docs/report.md or ``--help``.

    Returns:
        The exit status: 0, or 2 after an error printed to stderr (no runs, a missing
        folder, a malformed ``--baseline``, an unknown ``--x`` key, a bad ``--level`` /
        ``--resamples``); argparse exits with 2 on unknown options.

    Example:
        >>> main(["no/such/folder"])
        2
    """
    parser = argparse.ArgumentParser(prog="python -m flexseg.report", description=DESCRIPTION)
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

