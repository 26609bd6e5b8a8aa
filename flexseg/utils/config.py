"""Checks run before training starts: bad values fail fast with a clear message."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and the fix."""


def _positive(cfg: DictConfig, key: str, value) -> None:
    if value is not None and (not isinstance(value, (int, float)) or value <= 0):
        raise ConfigError(f"{key} must be a positive number, got {value!r}")


def validate_config(cfg: DictConfig) -> None:
    """Validate the composed training config (raises :class:`ConfigError`)."""
    data = cfg.data
    _positive(cfg, "data.batch_size", data.get("batch_size"))
    _positive(cfg, "data.eval_batch_size", data.get("eval_batch_size"))
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
            _positive(cfg, f"data.{key}", value)
            if value % 32:
                raise ConfigError(
                    f"data.{key}={value} is not divisible by 32, the output stride of the MiT encoder; "
                    f"use e.g. {max(32, round(value / 32) * 32)}"
                )
    if data.get("misalignment_px") is not None and data.misalignment_px < 0:
        raise ConfigError(f"data.misalignment_px must be ≥ 0, got {data.misalignment_px}")
    flex = cfg.flex
    ks = list(flex.kernel_sizes)
    if not ks or any(k < 1 or k % 2 == 0 for k in ks) or ks != sorted(set(ks)):
        raise ConfigError(f"flex.kernel_sizes must be odd and strictly increasing, got {ks}")
    if flex.gap.enabled:
        _positive(cfg, "flex.gap.tau", flex.gap.tau)
        _positive(cfg, "flex.gap.max_pixels", flex.gap.max_pixels)
        if not 0 <= flex.gap.momentum < 1:
            raise ConfigError(f"flex.gap.momentum must be in [0, 1), got {flex.gap.momentum}")
    if flex.ube.enabled and flex.ube.alpha < 0:
        raise ConfigError(f"flex.ube.alpha must be ≥ 0, got {flex.ube.alpha}")
    if flex.has.enabled:
        if flex.has.schedule not in ("sigmoid", "linear", "none"):
            raise ConfigError(f"flex.has.schedule must be sigmoid, linear or none, got {flex.has.schedule!r}")
        if flex.has.get("draw", "iteration") not in ("iteration", "index"):
            raise ConfigError(f"flex.has.draw must be iteration or index, got {flex.has.draw!r}")
        _positive(cfg, "flex.has.temperature", flex.has.temperature)
        if not 0 <= flex.has.ema < 1:
            raise ConfigError(f"flex.has.ema must be in [0, 1), got {flex.has.ema}")
    _positive(cfg, "optim.lr", cfg.optim.lr)


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


def options_with_defaults(defaults: Mapping[str, Any], given: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """``defaults`` updated with ``given``; an unknown key is an error naming ``name`` and the known keys."""
    out = dict(defaults)
    if given:
        unknown = set(given) - set(defaults)
        if unknown:
            raise ValueError(f"{name}: unknown option(s) {sorted(unknown)}; known: {sorted(defaults)}")
        out.update(given)
    return out
