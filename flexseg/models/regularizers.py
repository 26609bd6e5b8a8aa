"""Optional training regularizers of the reference recipes, attached to a network with a
MiT ``backbone``: the ImageNet feature distance (:mod:`flexseg.models.feature_distance`)
and SHADE style hallucination (:mod:`flexseg.models.shade`). Both are off by default.

A network using them adds to its training output (:class:`flexseg.models.base.SegOutput`):
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

__all__ = ["attach_regularizers", "fd_output", "hallucinated", "regularizer_outputs"]


def attach_regularizers(
    net: nn.Module,
    pretrained: str | None,
    shade: Mapping[str, Any] | None,
    feature_distance: Mapping[str, Any] | None,
    seed: int,
) -> None:
    """Set ``net.fd_cfg``, ``net.shade_cfg``, ``net.fd_encoder`` and SHADE on ``net.backbone``.

    ``fd_encoder`` is a frozen copy of ``net.backbone`` taken now (i.e. after the
    pretrained weights were loaded), or None. Consumes no torch random numbers.

    Args:
        net: a network with a MiT ``backbone``
            (:class:`~flexseg.models.encoders.MiTEncoder`).
        pretrained: the encoder file loaded before (only for the warning of an FD copy
            of a randomly initialized encoder).
        shade: SHADE options (:func:`flexseg.models.shade.shade_options`); None = off.
        feature_distance: FD options (:func:`flexseg.models.feature_distance.fd_options`);
            None = off.
        seed: seed of SHADE's Dirichlet draws.
    """
    net.fd_cfg = fd_options(feature_distance)
    net.shade_cfg = shade_options(shade)
    net.fd_encoder = FrozenEncoder(net.backbone, pretrained) if net.fd_cfg["enabled"] else None
    if net.shade_cfg["enabled"]:
        c = net.shade_cfg
        net.backbone.enable_style_hallucination(c["num_styles"], float(c["concentration"]), int(seed), c["style_dim"])


def fd_output(net: nn.Module, view: torch.Tensor, features: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """The ``fd`` entry of the training output.

    With SHADE the frozen map (the same for both halves, as the frozen copy has no SHADE)
    is repeated to the doubled batch.

    Args:
        net: the network (after :func:`attach_regularizers`).
        view: the encoder input the features come from, [B,3,H,W].
        features: its last-stage map, [B or 2B,C,h,w].

    Returns:
        ``{"features", "imnet_features"}`` (same shapes), or None when the feature distance
        is off or the network is in eval mode.
    """
    if net.fd_encoder is None or not net.training:
        return None
    imnet = net.fd_encoder(view)[-1]
    if imnet.shape[0] != features.shape[0]:
        imnet = imnet.repeat(features.shape[0] // imnet.shape[0], 1, 1, 1)
    return {"features": features, "imnet_features": imnet}


def hallucinated(net: nn.Module) -> bool:
    """True when the network's training forward doubles the batch (SHADE on, training)."""
    return net.training and getattr(net.backbone, "style_hallucination", None) is not None


def regularizer_outputs(net: nn.Module, view: torch.Tensor, features: torch.Tensor) -> dict[str, Any]:
    """The regularizers' entries of the training output: ``fd`` (:func:`fd_output`) and
    ``hallucinated`` = True, each only when it applies (an empty dict with both off or in
    eval mode). Arguments as :func:`fd_output`."""
    out: dict[str, Any] = {}
    fd = fd_output(net, view, features)
    if fd is not None:
        out["fd"] = fd
    if hallucinated(net):
        out["hallucinated"] = True
    return out
