"""The error of a bad config value (:class:`ConfigError`), the required-options rule of the
components that take a mapping of options from ``conf/`` (``flex.ube``, ``flex.gap``,
``model.shade``, ``model.feature_distance``) and the output-folder check.

Each value is checked once, by the code that uses it (docs/config.md): a constructor
that Hydra builds checks its own arguments, with the config key in the message. What
no constructor sees before training starts is checked by
:func:`flexseg.checks.validate_config`, which knows the config groups; this module knows
none of them, so every layer may import it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and the fix."""


def check_output_dir(path: str | os.PathLike, min_free_mb: float = 50.0) -> Path:
    """Create ``path`` and make sure it is writable with some free space, before training."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"output directory {out} is not writable ({err}); set hydra.run.dir=... to a writable folder") from err
    free_mb = shutil.disk_usage(out).free / 2**20
    if free_mb < min_free_mb:
        raise ConfigError(f"only {free_mb:.0f} MB free in {out}; checkpoints need more. Free space or change hydra.run.dir")
    return out


def required_options(given: Mapping[str, Any], keys: Sequence[str], name: str, home: str) -> dict[str, Any]:
    """``given`` as a plain dict when it holds exactly ``keys``.

    Args:
        given: the options (a mapping from the composed config).
        keys: every option the component needs; none has a default in code.
        name: the config key of the mapping (e.g. ``flex.gap``), for the message.
        home: the config file holding the values (e.g. ``conf/flex/default.yaml``).

    Returns:
        ``dict(given)``.

    Raises:
        ConfigError: naming each missing or unknown key as ``name.key`` and ``home``.

    Example:
        >>> required_options({"enabled": True, "weight": 0.5}, ("enabled", "weight"), "flex.gap", "conf/flex/default.yaml")
        {'enabled': True, 'weight': 0.5}
        >>> required_options({"enabled": True, "lambda": 1}, ("enabled", "weight"), "flex.gap", "conf/flex/default.yaml")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        flexseg.utils.config.ConfigError: flex.gap: missing flex.gap.weight; unknown flex.gap.lambda (known: ...) (...)
    """
    missing = [f"{name}.{k}" for k in keys if k not in given]
    unknown = [f"{name}.{k}" for k in sorted(set(given) - set(keys))]
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)} (known: {', '.join(keys)})"] if unknown else [])
        raise ConfigError(f"{name}: {'; '.join(parts)} (every option is required; the values live in {home})")
    return dict(given)
