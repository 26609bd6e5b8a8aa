"""Finding finished runs and grouping them (docs/report.md).

A *run* is a directory holding ``results.json`` and Hydra's ``.hydra/config.yaml`` +
``.hydra/overrides.yaml``; any folder above runs (a multirun folder, a sweep) is searched
recursively. Runs are grouped by their command-line overrides minus ``seed``,
``hydra.*``, ``paths.*``, checkpoint settings (:data:`DEFAULT_IGNORED`, plus ``--ignore``), so the seeds of
one configuration form one group; or, with ``group_by="folder"``, by their parent folder.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from flexseg.report.results import read_results

__all__ = ["DEFAULT_IGNORED", "GROUP_BY", "NoRunsError", "Run", "common_overrides", "flatten", "folder_label",
           "group_labels", "load_run", "load_runs", "parse_override"]

log = logging.getLogger(__name__)

#: Override keys never used to tell groups apart (besides ``seed``): where a run writes,
#: how it resumes and how often it checkpoints do not change its results.
DEFAULT_IGNORED: tuple[str, ...] = ("seed", "hydra.*", "paths.*", "ckpt_path", "resume", "tags",
                                    "callbacks.model_checkpoint.*")
#: The ways of grouping runs: by their overrides, or by their parent folder.
GROUP_BY = ("overrides", "folder")


class NoRunsError(FileNotFoundError):
    """No finished run (``results.json``) under the given directories."""


def _ignored(key: str, patterns: Sequence[str]) -> bool:
    for p in patterns:
        if p.endswith(".*") and (key == p[:-2] or key.startswith(p[:-1])):
            return True
        if key == p:
            return True
    return False


@dataclass
class Run:
    """One finished run.

    ``results``: the ``results.json`` payload (fractions 0–1); ``overrides``: the
    command-line overrides as ``key → value`` (prefixes ``+``/``++``/``~`` dropped);
    ``config``: the composed config flattened to dotted keys.

    Example:
        >>> run = Run(Path("runs/3"), {"miou": {"clear": 0.5}}, {"model": "hrda", "seed": "2", "hydra.run.dir": "x"},
        ...           {"seed": 2})
        >>> run.seed, run.group(), run.group(("seed", "hydra.*", "model"))
        (2, 'model=hrda', '(defaults)')
    """

    path: Path
    results: dict[str, Any]
    overrides: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    #: Group label set by ``load_runs(..., group_by="folder")`` (else groups come from overrides).
    label: str | None = None

    @property
    def seed(self) -> int:
        """The run's ``seed`` (composed config, else overrides; 0 when absent or not a number)."""
        value = self.config.get("seed", self.overrides.get("seed", 0))
        try:
            return int(value)
        except (TypeError, ValueError):
            return 0

    def group_overrides(self, ignore: Sequence[str] = DEFAULT_IGNORED) -> dict[str, str]:
        """Overrides that define the group (``ignore`` patterns: exact key or ``prefix.*``,
        which also covers ``prefix`` itself)."""
        return {k: v for k, v in self.overrides.items() if not _ignored(k, ignore)}

    def group(self, ignore: Sequence[str] = DEFAULT_IGNORED) -> str:
        """Group label: sorted ``key=value`` overrides, or ``(defaults)``."""
        items = sorted(self.group_overrides(ignore).items())
        return " ".join(f"{k}={v}" for k, v in items) or "(defaults)"


def parse_override(text: str) -> tuple[str, str]:
    """One Hydra command-line override as ``(key, value)``.

    Args:
        text: e.g. ``"+experiment=hrda_flex"``, ``"++a.b=1"`` or ``"~key"``.

    Returns:
        The key without its ``+``/``++``/``~`` prefix and the value as written
        (``"~"`` for a deletion).

    Example:
        >>> parse_override("+experiment=hrda_flex"), parse_override("~logger"), parse_override("a=b=c")
        (('experiment', 'hrda_flex'), ('logger', '~'), ('a', 'b=c'))
    """
    text = str(text).strip()
    if text.startswith("~"):
        return text[1:].split("=", 1)[0], "~"
    key, _, value = text.partition("=")
    return key.lstrip("+"), value


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict of dotted keys (lists and empty dicts kept as leaves).

    Args:
        obj: a (nested) mapping, e.g. a composed config.
        prefix: prepended to every key.

    Returns:
        ``{"a.b.c": leaf}``.

    Example:
        >>> flatten({"model": {"name": "hrda", "dims": [1, 2]}, "seed": 0, "empty": {}})
        {'model.name': 'hrda', 'model.dims': [1, 2], 'seed': 0, 'empty': {}}
    """
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
    """Read one run directory.

    Args:
        run_dir: a folder with ``results.json`` and (normally) ``.hydra/config.yaml`` +
            ``.hydra/overrides.yaml``; without the config a warning is logged.

    Returns:
        The :class:`Run` (config flattened, overrides parsed with :func:`parse_override`).

    Raises:
        ValueError: ``results.json`` is missing, unreadable or not a FlexSeg one.

    Example:
        >>> load_run("no/such/run")
        Traceback (most recent call last):
        ...
        ValueError: cannot read no/such/run/results.json: [Errno 2] No such file or directory: 'no/such/run/results.json'
    """
    run_dir = Path(run_dir)
    results = read_results(run_dir / "results.json")
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


def folder_label(run_dir: Path, root: Path) -> str:
    """Group label of a run found under ``root`` by folder.

    Args:
        run_dir: the run's folder.
        root: the folder it was found under (a ``DIR`` of the command line).

    Returns:
        The path of the run's parent folder relative to ``root``, or the parent's name
        when the run sits directly in ``root`` or ``root`` is the run.

    Example:
        >>> folder_label(Path("synth10/main/flex/3"), Path("synth10"))
        'main/flex'
        >>> folder_label(Path("synth10/main/flex/3"), Path("synth10/main/flex")), folder_label(Path("a/b"), Path("a/b"))
        ('flex', 'a')
    """
    parent = run_dir.parent
    try:
        rel = parent.relative_to(root)
    except ValueError:
        rel = Path(".")
    return str(rel) if str(rel) != "." else parent.name


def load_runs(paths: Iterable[str | Path], group_by: str = "overrides") -> list[Run]:
    """All finished runs under ``paths``.

    Args:
        paths: run folders, multirun folders, or any folders above runs.
        group_by: ``"overrides"`` (groups from :meth:`Run.group`) or ``"folder"`` (each
            run's ``label`` is its :func:`folder_label`, e.g.
            ``logs/.../synth10/main/{flex,off}/<seed>`` → ``main/flex``).

    Returns:
        The runs, per path in the order given, sorted by path within one (job 2 before
        job 10).

    Raises:
        ValueError: an unknown ``group_by``, or a broken ``results.json``.
        FileNotFoundError: a path does not exist.
        NoRunsError: a path holds no finished run (the message counts the run folders
            without ``results.json``).

    Example:
        >>> load_runs(["no/such/folder"])
        Traceback (most recent call last):
        ...
        FileNotFoundError: no/such/folder does not exist
    """
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


def common_overrides(runs: Sequence[Run], ignore: Sequence[str] = DEFAULT_IGNORED) -> dict[str, str]:
    """Grouping overrides every run shares (same key and value), e.g. ``+experiment=…``
    and the data-size flags of a sweep; left out of the group labels.

    Args:
        runs: the runs of a report.
        ignore: override keys (or ``prefix.*``) that never define a group.

    Returns:
        key → value shared by all ``runs`` (``{}`` without runs).

    Example:
        >>> a = Run(Path("a"), {}, {"experiment": "x", "model": "hrda"})
        >>> b = Run(Path("b"), {}, {"experiment": "x", "model": "daformer"})
        >>> common_overrides([a, b])
        {'experiment': 'x'}
    """
    if not runs:
        return {}
    shared = dict(runs[0].group_overrides(ignore))
    for r in runs[1:]:
        own = r.group_overrides(ignore)
        shared = {k: v for k, v in shared.items() if own.get(k) == v}
    return shared


def group_labels(runs: Sequence[Run], ignore: Sequence[str] = DEFAULT_IGNORED) -> list[str]:
    """Display label of each run's group.

    Args:
        runs: the runs of a report.
        ignore: override keys (or ``prefix.*``) that never define a group.

    Returns:
        One label per run: its ``label`` when every run has one (``group_by="folder"``),
        else its grouping overrides minus the :func:`common_overrides` of all runs when
        there are several groups (``(common)`` when nothing is left, ``(defaults)`` for
        a run without any override). Distinct groups keep distinct labels.

    Example:
        >>> a = Run(Path("a"), {}, {"experiment": "x", "model": "hrda"})
        >>> b = Run(Path("b"), {}, {"experiment": "x"})
        >>> group_labels([a, b]), group_labels([a, a])
        (['model=hrda', '(common)'], ['experiment=x model=hrda', 'experiment=x model=hrda'])
    """
    if runs and all(r.label is not None for r in runs):
        return [str(r.label) for r in runs]
    shared = common_overrides(runs, ignore) if len({r.group(ignore) for r in runs}) > 1 else {}
    labels = []
    for r in runs:
        own = r.group_overrides(ignore)
        rest = sorted((k, v) for k, v in own.items() if k not in shared)
        labels.append(" ".join(f"{k}={v}" for k, v in rest) or ("(common)" if own else "(defaults)"))
    return labels
