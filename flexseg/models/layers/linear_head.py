"""The linear per-pixel head of the foundation-model benchmarks: the pyramid's levels
upsampled to the finest grid, concatenated, BatchNorm, one 1×1 classifier (DINOv2's
multi-layer linear probe, "linear4"; docs/vfm.md)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LinearHead"]


class LinearHead(nn.Module):
    """Concatenate → BatchNorm → 1×1 conv.

    Args:
        in_channels: channels of the input maps (one per level).
        num_classes: output classes K.
        dropout: ``Dropout2d`` before the classifier (0 = none).

    Returns:
        ``forward(feats)`` → ``(logits, features)``: the classifier's output and the
        normalized concatenation it reads (``features``, D = Σ ``in_channels``, GAP's input).

    Shape:
        - Input: list of :math:`(B, C_s, H_s, W_s)`; the first map sets the grid :math:`(H_1, W_1)`
        - Output: :math:`(B, K, H_1, W_1)`, :math:`(B, D, H_1, W_1)`

    Example:
        >>> head = LinearHead([4, 4], num_classes=3).eval()
        >>> logits, feats = head([torch.randn(2, 4, 8, 8), torch.randn(2, 4, 4, 4)])
        >>> logits.shape, feats.shape
        (torch.Size([2, 3, 8, 8]), torch.Size([2, 8, 8, 8]))
        >>> torch.allclose(logits, head.conv_seg(feats), atol=1e-6)
        True
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int = 19, dropout: float = 0.0) -> None:
        super().__init__()
        self.feature_dim = int(sum(in_channels))
        self.bn = nn.BatchNorm2d(self.feature_dim)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(self.feature_dim, num_classes, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        size = feats[0].shape[-2:]
        cat = torch.cat([f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                         for f in feats], dim=1)
        fused = self.bn(cat)
        return self.conv_seg(self.dropout(fused)), fused
