"""Optional training regularizers of the reference recipes, attached to a network with a
MiT ``backbone``: the ImageNet feature distance (:mod:`flexseg.models.feature_distance`)
and SHADE style hallucination (:mod:`flexseg.models.shade`). Both are off by default.

A network using them adds to its training output (see :mod:`flexseg.models`):
``fd`` = {"features": last-stage map of the FD view [B',C,h,w], "imnet_features": the
frozen copy's map of the same view} when the feature distance is on, and
``hallucinated`` = True when SHADE doubled the batch ([originals; hallucinated]).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from flexseg.models.feature_distance import FrozenEncoder, fd_options
from flexseg.models.shade import shade_options


def attach_regularizers(
    net: nn.Module,
    pretrained: str | None,
    shade: Mapping[str, Any] | None,
    feature_distance: Mapping[str, Any] | None,
    seed: int,
) -> None:
    """Set ``net.fd_cfg``, ``net.shade_cfg``, ``net.fd_encoder`` (frozen copy of
    ``net.backbone`` taken now, i.e. after the pretrained weights were loaded, or None)
    and SHADE on ``net.backbone``. Consumes no torch random numbers."""
    net.fd_cfg = fd_options(feature_distance)
    net.shade_cfg = shade_options(shade)
    net.fd_encoder = FrozenEncoder(net.backbone, pretrained) if net.fd_cfg["enabled"] else None
    if net.shade_cfg["enabled"]:
        c = net.shade_cfg
        net.backbone.enable_style_hallucination(c["num_styles"], float(c["concentration"]), int(seed), c["style_dim"])


def fd_output(net: nn.Module, view: torch.Tensor, features: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """The ``fd`` entry for the encoder input ``view`` [B,3,H,W] whose last-stage map is
    ``features`` ([B or 2B,C,h,w]); None when the feature distance is off or in eval mode.
    With SHADE the frozen map (the same for both halves, as the frozen copy has no SHADE)
    is repeated."""
    if net.fd_encoder is None or not net.training:
        return None
    imnet = net.fd_encoder(view)[-1]
    if imnet.shape[0] != features.shape[0]:
        imnet = imnet.repeat(features.shape[0] // imnet.shape[0], 1, 1, 1)
    return {"features": features, "imnet_features": imnet}


def hallucinated(net: nn.Module) -> bool:
    """True when the network's training forward doubles the batch (SHADE on, training)."""
    return net.training and getattr(net.backbone, "style_hallucination", None) is not None
