"""ImageNet feature distance (DAFormer's "FD", DGInStyle's ``dacs_fdthings_srconly``;
docs/recipe.md).

A frozen copy of the encoder as it was before training (ImageNet weights) regularizes the
trained encoder: L_FD = λ · mean over thing pixels of ‖F(x) − F_ImNet(x)‖₂ on the
*last* encoder stage (stride 32). Thing pixels: the labels are downscaled to the feature
grid by :func:`downscale_label_ratio` (majority class of each s×s cell, ignored when the
majority covers less than ``min_ratio`` of the cell) and kept where the class is in
``classes``. For HRDA the reference uses the LR (context) view's features
(``feature_scale`` = the LR scale) against the full context labels.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from flexseg.utils.config import required_options
from flexseg.utils.distributed import rescale_to_global_mean

#: the Cityscapes thing classes (traffic light, sign, person … bicycle), the reference's
#: ``imnet_feature_dist_classes``; the value a run uses lives in conf/model/feature_distance/things.yaml
THING_CLASSES = (6, 7, 11, 12, 13, 14, 15, 16, 17, 18)
#: the options of ``model.feature_distance``, all required (values in :data:`HOME`)
FD_KEYS = ("enabled", "weight", "classes", "min_ratio")
HOME = "conf/model/feature_distance/things.yaml"


def fd_options(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``model.feature_distance`` options with every key of :data:`FD_KEYS` (a missing
    or unknown key is an error naming it and :data:`HOME`); ``None`` = off."""
    return {"enabled": False} if given is None else required_options(given, FD_KEYS, "model.feature_distance", HOME)


def downscale_label_ratio(
    labels: torch.Tensor, scale: int, min_ratio: float, num_classes: int, ignore_index: int = 255
) -> torch.Tensor:
    """labels [B,H,W] → [B,H//scale,W//scale]: per scale×scale cell the most frequent label
    (ignore counted as a class of its own; ties → the lower class id, ignore last); set to
    ``ignore_index`` when it is ignore or covers less than ``min_ratio`` of the cell.
    Cells past H//scale·scale (W) are dropped, as ``avg_pool2d``."""
    if scale < 1 or labels.ndim != 3:
        raise ValueError(f"downscale_label_ratio: labels [B,H,W] and scale >= 1 needed, got {tuple(labels.shape)}, {scale}")
    lab = labels.long().clone()
    bad = (lab != ignore_index) & ((lab < 0) | (lab >= num_classes))
    if bool(bad.any()):
        raise ValueError(f"labels hold values outside [0, {num_classes}) other than {ignore_index}")
    lab[lab == ignore_index] = num_classes
    onehot = F.one_hot(lab, num_classes + 1).permute(0, 3, 1, 2).float()
    ratio, out = F.avg_pool2d(onehot, kernel_size=scale).max(dim=1)
    out[out == num_classes] = ignore_index
    out[ratio < min_ratio] = ignore_index
    return out


def masked_feature_distance(f1: torch.Tensor, f2: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over mask [B,h,w] pixels of the L2 distance over channels of f1, f2 [B,C,h,w]
    → (distance, number of pixels); 0 (with a zero gradient) when the mask is empty
    (the reference's mean of an empty set is NaN with no gradient)."""
    dist = torch.norm(f1.float() - f2.float(), dim=1, p=2)
    m = mask.to(dist.dtype)
    n = m.sum()
    return (dist * m).sum() / n.clamp_min(1), n


class FrozenEncoder(nn.Module):
    """A frozen copy of an encoder: parameters without gradient, always in eval mode
    (``train()`` leaves it in eval), ``forward`` under ``no_grad``. Its weights are
    part of the state dict, so a checkpoint restores the same reference."""

    def __init__(self, encoder: nn.Module, pretrained: str | None) -> None:
        super().__init__()
        if not pretrained:
            warnings.warn(
                "feature distance without pretrained encoder weights (model.pretrained=null): the frozen "
                "'ImageNet' copy is the randomly initialized encoder", stacklevel=3,
            )
        self.encoder = copy.deepcopy(encoder)
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.encoder.eval()

    def train(self, mode: bool = True) -> FrozenEncoder:
        super().train(False)
        return self

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(images)


def feature_distance_loss(
    features: torch.Tensor,
    imnet_features: torch.Tensor,
    labels: torch.Tensor,
    classes: torch.Tensor,
    min_ratio: float,
    num_classes: int,
    ignore_index: int = 255,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked distance of last-stage features [B,C,h,w] (imnet_features: same, detached)
    on the thing pixels of labels [B,H,W] (downscaled by W // w, the reference's rule; when
    that grid is not h×w — input sizes that are not multiples of 32 — it is cropped or
    padded with ignore at the bottom/right) → (mean distance, pixels). Under DDP the mean
    is over the pixels of all processes."""
    scale = labels.shape[-1] // features.shape[-1]
    low = downscale_label_ratio(labels, scale, min_ratio, num_classes, ignore_index)
    h, w = features.shape[-2:]
    if low.shape[-2:] != (h, w):
        # sizes that are not multiples of 32 (the reference would fail here): fit the grid at
        # the bottom/right, cells without labels ignored
        low = F.pad(low[..., :h, :w], (0, w - min(w, low.shape[-1]), 0, h - min(h, low.shape[-2])), value=ignore_index)
    mask = torch.isin(low, classes.to(low.device))
    dist, n = masked_feature_distance(features, imnet_features.detach(), mask)
    return rescale_to_global_mean(dist, n), n
