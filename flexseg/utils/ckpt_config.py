"""The config a checkpoint was trained with, so that ``eval``, ``analyze`` and
``predict`` need only ``ckpt_path=``.

Training stores it under :data:`CONFIG_KEY` in every checkpoint (:class:`StoreConfig`):
``resolved`` (every value as used) and ``composed`` (before interpolation). A command
that reads a checkpoint takes the groups it needs (``data``, ``model``, ``flex``) from
``composed``, so that ``${paths.data_dir}`` points at this machine's data, and from
``resolved`` where that cannot be resolved here. What the command line says wins: a
group chosen there (``model=...``, ``+experiment=...``) is kept, and dotted overrides
(``data.num_test=10``) are applied again on top of the checkpoint's group.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

__all__ = ["CONFIG_KEY", "StoreConfig", "apply_checkpoint_config", "read_checkpoint_config"]

log = logging.getLogger(__name__)

CONFIG_KEY = "flexseg_config"
#: groups a trained network's evaluation depends on
GROUPS: tuple[str, ...] = ("data", "model", "flex")


class StoreConfig(L.Callback):
    """Put the run's config (resolved and as composed) into every checkpoint saved."""

    def __init__(self, cfg: DictConfig) -> None:
        self.payload = {
            "resolved": OmegaConf.to_container(cfg, resolve=True),
            "composed": OmegaConf.to_container(cfg, resolve=False),
        }

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[CONFIG_KEY] = self.payload


def read_checkpoint_config(path: str | Path) -> dict[str, Any] | None:
    """``{"resolved": ..., "composed": ...}`` stored in a FlexSeg checkpoint; ``None`` for
    checkpoints without one (mmseg files, FlexSeg checkpoints from before this feature)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={path} does not exist")
    try:  # mmap: the tensors are not read
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except RuntimeError:  # legacy (non-zip) format
        state = torch.load(path, map_location="cpu", weights_only=False)
    stored = state.get(CONFIG_KEY) if isinstance(state, dict) else None
    return stored if isinstance(stored, dict) and "resolved" in stored else None


def _command_line_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _group_resolves(root: DictConfig, group: str) -> bool:
    try:
        OmegaConf.to_container(root[group], resolve=True)
        return True
    except Exception:  # an interpolation this config cannot resolve (a key the command lacks)
        return False


def apply_checkpoint_config(cfg: DictConfig, overrides: Sequence[str] | None = None,
                            groups: Sequence[str] = GROUPS) -> DictConfig:
    """``cfg`` with ``groups`` taken from the config stored in ``cfg.ckpt_path`` (in place
    and returned). ``overrides``: the command line (default: Hydra's task overrides)."""
    stored = read_checkpoint_config(cfg.ckpt_path)
    if stored is None:
        log.info("%s holds no FlexSeg config: using the command's config", cfg.ckpt_path)
        return cfg
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(_command_line_overrides() if overrides is None else overrides))
    chosen = {o.key_or_group.split("@")[0] for o in parsed if "." not in o.key_or_group}
    if "experiment" in chosen:  # a recipe on the command line sets every group
        return cfg
    taken = []
    with open_dict(cfg):
        for group in groups:
            if group in chosen or group not in stored["composed"]:
                continue
            cfg[group] = stored["composed"][group]
            if not _group_resolves(cfg, group):
                cfg[group] = stored["resolved"][group]
            taken.append(group)
        for o in parsed:  # dotted overrides of a taken group win over the checkpoint
            group = o.key_or_group.split(".")[0]
            if group in taken and "." in o.key_or_group and not o.is_delete():
                OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True, force_add=True)
    if taken:
        log.info("from the config stored in %s: %s", cfg.ckpt_path, ", ".join(taken))
    return cfg
