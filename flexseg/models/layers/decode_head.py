"""DAFormer's multi-level fusion decoder and the mmseg initialization of decode heads.

The head (names follow mmseg so published checkpoints map 1:1, see ``weights.py``):
per-stage ``Linear → embed_dim`` (``embed_layers``), bilinear upsample to the first
stage's grid (1/4), concat → ``fuse_layer`` (:class:`ASPPFusion`, or one 1×1
:class:`ConvBNReLU` for HRDA's light scale-attention head) → dropout → 1×1 ``conv_seg``.
The fused map (before dropout) is the ``features`` output used by GAP. docs/models.md
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from flexseg.models.layers.aspp import ASPPFusion
from flexseg.models.layers.conv import ConvBNReLU, LinearEmbed

__all__ = ["HEAD_INITS", "DAFormerHead", "init_head", "reference_init_"]


class DAFormerHead(nn.Module):
    """Multi-level fusion decoder of DAFormer (``DAFormerHead`` in mmseg).

    Args:
        in_channels: channels of the encoder stages (strides 4, 8, 16, 32 for MiT).
        num_classes: output classes.
        embed_dim: width of the embeddings and of the fused map (256 in the reference).
        dilations: ASPP dilations; ``None`` (or empty) makes the fusion one 1×1
            conv+BN+ReLU (HRDA's light scale-attention head).
        dropout: ``Dropout2d`` probability before the classifier (0 = none).

    Returns:
        ``forward(feats)`` → ``(logits, features)``: the classifier output and the fused
        map it is computed from (before dropout).

    Shape:
        - Input: list of :math:`(B, C_s, H_s, W_s)`, one per entry of ``in_channels``;
          the first map sets the output grid :math:`(H_1, W_1)`
        - Output: :math:`(B, K, H_1, W_1)` logits, :math:`(B, D, H_1, W_1)` features
          (K = ``num_classes``, D = ``embed_dim``)

    Example:
        >>> head = DAFormerHead([4, 8], num_classes=3, embed_dim=6, dilations=(1, 2)).eval()
        >>> logits, features = head([torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)])
        >>> logits.shape, features.shape
        (torch.Size([2, 3, 8, 8]), torch.Size([2, 6, 8, 8]))
        >>> torch.allclose(logits, head.conv_seg(features))  # dropout is off in eval mode
        True
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int = 19,
        embed_dim: int = 256,
        dilations: Sequence[int] | None = (1, 6, 12, 18),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embed_layers = nn.ModuleList(LinearEmbed(c, embed_dim) for c in in_channels)
        cat = embed_dim * len(in_channels)
        self.fuse_layer: nn.Module = (
            ASPPFusion(cat, embed_dim, dilations) if dilations else ConvBNReLU(cat, embed_dim, 1)
        )
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(embed_dim, num_classes, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        size = feats[0].shape[-2:]
        embedded = [
            F.interpolate(e(f), size=size, mode="bilinear", align_corners=False) if i else e(f)
            for i, (e, f) in enumerate(zip(self.embed_layers, feats))
        ]
        fused = self.fuse_layer(torch.cat(embedded, dim=1))
        return self.conv_seg(self.dropout(fused)), fused


#: accepted values of ``head_init`` (:func:`init_head`)
HEAD_INITS = ("torch", "reference")


@torch.no_grad()
def reference_init_(head: nn.Module) -> None:
    """mmseg/mmcv initialization of a decode head, in place (the reference's
    ``model.init_weights()``).

    Every :class:`ConvBNReLU` conv kaiming-normal (fan_out, ReLU; mmcv ``ConvModule``), its
    BN weight 1 and bias 0; the classifier ``conv_seg`` of every :class:`DAFormerHead`
    normal(0, 0.01) with bias 0 (``BaseDecodeHead`` init_cfg); the per-stage ``Linear``
    embeddings keep PyTorch's default (as in the reference's ``MLP``). Draws from the
    global torch generator, convs first (in module order), then the classifiers.

    Args:
        head: a :class:`DAFormerHead` or a module holding some (HRDA's two heads).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> head = DAFormerHead([4], num_classes=2, embed_dim=4, dilations=(1,))
        >>> reference_init_(head)
        >>> int(torch.count_nonzero(head.conv_seg.bias)), bool((head.fuse_layer.bottleneck.bn.weight == 1).all())
        (0, True)
    """
    for m in head.modules():
        if isinstance(m, ConvBNReLU):
            nn.init.kaiming_normal_(m.conv.weight, a=0, mode="fan_out", nonlinearity="relu")
            nn.init.ones_(m.bn.weight)
            nn.init.zeros_(m.bn.bias)
    for m in head.modules():
        if isinstance(m, DAFormerHead):
            nn.init.normal_(m.conv_seg.weight, 0.0, 0.01)
            nn.init.zeros_(m.conv_seg.bias)


def init_head(head: nn.Module, head_init: str) -> None:
    """Initialize a decode head by name.

    Args:
        head: the head module.
        head_init: ``torch`` leaves PyTorch's default init (draws nothing);
            ``reference`` applies :func:`reference_init_`.

    Raises:
        ValueError: ``head_init`` not in :data:`HEAD_INITS`.

    Example:
        >>> head = DAFormerHead([4], num_classes=2, embed_dim=4, dilations=None)
        >>> before = head.conv_seg.weight.clone()
        >>> init_head(head, "torch")
        >>> torch.equal(head.conv_seg.weight, before)
        True
    """
    if head_init not in HEAD_INITS:
        raise ValueError(f"head_init must be one of {HEAD_INITS}, got {head_init!r}")
    if head_init == "reference":
        reference_init_(head)
