"""Which group each group is compared with (docs/report.md).

The baseline groups are those whose runs match ``--baseline KEY=VALUE ...`` (compared
with the run's composed config and with its overrides), by default those with GAP, UBE
and HAS all off (:data:`FLEX_OFF`). Each group is compared with the closest baseline
group: fewest differing config values (:data:`_CONFIG_NOISE` keys left out), ties to the
baseline seen first; so HRDA+FLEX is compared with HRDA+DGInStyle, and a baseline with
itself. No matching group: no baseline (no deltas), not an error.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import yaml

from flexseg.report.discovery import DEFAULT_IGNORED, Run, group_labels, parse_override

__all__ = ["FLEX_OFF", "assign_baselines", "baseline_groups", "parse_key_values"]

#: Config keys ignored when looking for the closest baseline.
_CONFIG_NOISE = ("seed", "paths.", "hydra.", "tags", "task_name", "experiment_name", "ckpt_path", "resume",
                 "logger.", "callbacks.")
#: The default baseline: the three FLEX-Seg modules off.
FLEX_OFF = {"flex.gap.enabled": False, "flex.ube.enabled": False, "flex.has.enabled": False}


def _matches(config: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Every wanted key is in ``config`` with an equal value: equal as written (compared as
    lower-case strings, so ``flex=off`` matches the override ``flex=off``), or equal after
    reading a string value as YAML (``"false"`` → False, ``"4"`` → 4)."""
    for key, value in wanted.items():
        if key not in config:
            return False
        have = config[key]
        candidates = [value]
        if isinstance(value, str) and value != "":
            candidates.append(yaml.safe_load(value))
        if not any(have == v or str(have).lower() == str(v).lower() for v in candidates):
            return False
    return True


def baseline_groups(runs: Sequence[Run], baseline: Mapping[str, Any] | None = None,
                    ignore: Sequence[str] = DEFAULT_IGNORED) -> list[str]:
    """The groups that are baselines.

    Args:
        runs: the runs of a report.
        baseline: ``key → value`` the baseline's runs have, in their composed config or
            their overrides (values as written on the command line); ``None``:
            :data:`FLEX_OFF`.
        ignore: override keys (or ``prefix.*``) that never define a group.

    Returns:
        The :func:`~flexseg.report.discovery.group_labels` of the matching groups, in
        order of first appearance.

    Example:
        >>> from pathlib import Path
        >>> flex = Run(Path("a"), {}, {}, {"flex.gap.enabled": True})
        >>> off = Run(Path("b"), {}, {"flex.gap.enabled": "false"}, {"flex.gap.enabled": False})
        >>> baseline_groups([flex, off], {"flex.gap.enabled": "false"}), baseline_groups([flex, off], {"model": "x"})
        (['flex.gap.enabled=false'], [])
    """
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
    """The baseline group of every group.

    Args:
        runs: the runs of a report.
        baseline: as for :func:`baseline_groups` (``None``: GAP, UBE and HAS off).
        ignore: override keys (or ``prefix.*``) that never define a group.

    Returns:
        group → its closest baseline group (fewest differing config values between the
        groups' first runs; ties to the baseline seen first; a baseline is its own);
        ``{}`` when no group is a baseline.

    Example:
        >>> from pathlib import Path
        >>> cfg = lambda model, on: {"model.name": model, **{f"flex.{m}.enabled": on for m in ("gap", "ube", "has")}}
        >>> runs = [Run(Path("1"), {}, {"model": "hrda"}, cfg("hrda", True)),
        ...         Run(Path("2"), {}, {"model": "daformer", "flex": "none"}, cfg("daformer", False)),
        ...         Run(Path("3"), {}, {"model": "hrda", "flex": "none"}, cfg("hrda", False))]
        >>> assign_baselines(runs)["model=hrda"]
        'flex=none model=hrda'
    """
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


def parse_key_values(items: Sequence[str]) -> dict[str, str]:
    """The ``--baseline`` arguments as a mapping.

    Args:
        items: ``KEY=VALUE`` strings (a ``+`` prefix is dropped).

    Returns:
        key → value (strings, as written).

    Raises:
        ValueError: an item without ``=``.

    Example:
        >>> parse_key_values(["a.b=1", "+experiment=x"])
        {'a.b': '1', 'experiment': 'x'}
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--baseline expects KEY=VALUE, got {item!r}")
        k, v = parse_override(item)
        out[k] = v
    return out
