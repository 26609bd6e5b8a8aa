"""Checks run before training starts (:func:`validate_config`).

Each value is checked once, by the code that uses it (docs/config.md): a constructor
that Hydra builds checks its own arguments, with the config key in the message.
:func:`validate_config` checks only what no constructor sees before training starts
(batch size, run length, seed, image size, learning rate) and runs the HAS sampler's
own checks early, since the sampler is built only once training has begun. It knows the
config groups and the HAS sampler, so it lives above them (``flexseg.utils.config``, which
every layer imports, holds only :class:`ConfigError` and the generic rules).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from flexseg.flex.has import HardnessAwareSampler
from flexseg.utils.config import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["check_has_options", "validate_config"]


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
    options = {k: v for k, v in has.items() if k != "enabled"}
    try:
        HardnessAwareSampler(1, 1, **options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"flex.has: {err} (conf/flex/default.yaml)") from err
