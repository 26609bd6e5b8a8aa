"""Checks run before training starts, and the required-options rule of the components
that take a mapping of options from ``conf/`` (``flex.ube``, ``flex.gap``,
``model.shade``, ``model.feature_distance``).

Each value is checked once, by the code that uses it (docs/config.md): a constructor
that Hydra builds checks its own arguments, with the config key in the message.
:func:`validate_config` checks only what no constructor sees before training starts
(batch size, run length, seed, image size, learning rate) and runs the HAS sampler's
own checks early, since the sampler is built only once training has begun.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from omegaconf import DictConfig


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and the fix."""


def _positive(key: str, value: Any) -> None:
    if value is not None and (not isinstance(value, (int, float)) or value <= 0):
        raise ConfigError(f"{key} must be a positive number, got {value!r}")


def validate_config(cfg: DictConfig) -> None:
    """Validate the composed training config (raises :class:`ConfigError` naming the key).

    Checked here: ``data.batch_size``, ``data.eval_batch_size``, ``data.num_workers``,
    ``trainer.max_steps``, ``seed``, ``data.height``/``data.width`` (multiples of 32),
    ``data.misalignment_px``, ``optim.optimizer.lr`` and, when HAS is on, ``flex.has``
    (by the sampler's own checks). ``flex.kernel_sizes``, ``flex.ube``, ``flex.gap`` and
    ``flex.loss_normalization`` are checked by :class:`~flexseg.flex.criterion.FlexCriterion`,
    the optimizer groups by :class:`~flexseg.optim.ParamGroups`, both built before training.
    """
    data = cfg.data
    _positive("data.batch_size", data.get("batch_size"))
    _positive("data.eval_batch_size", data.get("eval_batch_size"))
    if data.get("num_workers", 0) < 0:
        raise ConfigError(f"data.num_workers must be ≥ 0, got {data.num_workers}")
    max_steps = cfg.trainer.get("max_steps")
    if cfg.get("train", True) and (max_steps is None or max_steps <= 0):
        raise ConfigError(f"trainer.max_steps must be a positive number of steps, got {max_steps!r}")
    if not isinstance(cfg.get("seed"), int):
        raise ConfigError(f"seed must be an integer, got {cfg.get('seed')!r}")
    for key in ("height", "width"):
        value = data.get(key)
        if value is not None:
            _positive(f"data.{key}", value)
            if value % 32:
                raise ConfigError(
                    f"data.{key}={value} is not divisible by 32, the output stride of the MiT encoder; "
                    f"use e.g. {max(32, round(value / 32) * 32)}"
                )
    if data.get("misalignment_px") is not None and data.misalignment_px < 0:
        raise ConfigError(f"data.misalignment_px must be ≥ 0, got {data.misalignment_px}")
    if cfg.flex.has.enabled:
        check_has_options(cfg.flex.has)
    # torch's AdamW accepts lr = 0 and is built only once training has begun
    _positive("optim.optimizer.lr", cfg.optim.optimizer.lr)


def check_has_options(has: Mapping[str, Any]) -> None:
    """Run :class:`~flexseg.flex.has.HardnessAwareSampler`'s own checks on the ``flex.has``
    options now (the datamodule builds the sampler with them, minus ``enabled``, once
    training has begun); its error becomes a :class:`ConfigError` naming ``flex.has``."""
    from flexseg.flex.has import HardnessAwareSampler

    options = {k: v for k, v in has.items() if k != "enabled"}
    try:
        HardnessAwareSampler(1, 1, **options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"flex.has: {err} (conf/flex/default.yaml)") from err


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
