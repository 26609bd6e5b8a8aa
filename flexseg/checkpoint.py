"""A network, or the whole SegModule, from a checkpoint file.

The commands that test a trained model (``flexseg.eval``, ``flexseg.analyze``,
``flexseg.predict``) build the model of the config and overwrite its weights with those of
``ckpt_path``: a FlexSeg Lightning checkpoint (``net.*`` keys) or a published mmseg
DAFormer / HRDA / DGInStyle one (docs/design.md §2, :mod:`flexseg.models.weights`).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, open_dict

from flexseg.build import build_module
from flexseg.module import SegModule

__all__ = ["build_module_from_checkpoint", "load_network_weights"]

log = logging.getLogger(__name__)


def load_network_weights(net: torch.nn.Module, path: str | Path) -> str:
    """Load a checkpoint's network weights into ``net``.

    Args:
        net: the segmentation network (``SegModule.net``).
        path: a FlexSeg Lightning checkpoint or an mmseg checkpoint.

    Returns:
        The detected kind of checkpoint: ``"lightning"`` or ``"mmseg"``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        flexseg.models.weights.WeightsMismatchError: the weights do not fit ``net`` (the
            mismatched keys are listed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        from flexseg.models.weights import load_any_checkpoint
    except ImportError:  # pragma: no cover - weights module absent
        load_any_checkpoint = None
    if load_any_checkpoint is not None:
        return load_any_checkpoint(net, path)
    state = torch.load(path, map_location="cpu", weights_only=False)
    sd = {k[len("net."):]: v for k, v in state["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(sd, strict=True)
    return "lightning"


def build_module_from_checkpoint(cfg: DictConfig) -> SegModule:
    """SegModule of the model config with the network weights of ``cfg.ckpt_path``.

    ``model.pretrained`` is not read (set to None in ``cfg``): the checkpoint overwrites
    every weight, so no ImageNet encoder file is needed.

    Args:
        cfg: a composed ``eval`` / ``analyze`` / ``predict`` config with ``ckpt_path``.

    Returns:
        The module (train mode, on the CPU).
    """
    if cfg.model.get("pretrained"):
        with open_dict(cfg):
            cfg.model.pretrained = None
    module = build_module(cfg)
    kind = load_network_weights(module.net, cfg.ckpt_path)
    log.info("loaded %s checkpoint %s", kind, cfg.ckpt_path)
    return module
