"""DAFormer: MiT encoder + context-aware multi-level fusion head (Hoyer et al., CVPR 2022).

Head (names follow mmseg so published checkpoints map 1:1, see ``weights.py``):
per-stage ``Linear → 256`` (``embed_layers``), bilinear upsample to 1/4, concat
(4·256) → ``fuse_layer`` (ASPP-like: 1×1 conv and depthwise-separable 3×3 convs with
dilations 6/12/18, each + BN + ReLU) → ``bottleneck`` 3×3 conv → dropout 0.1 →
1×1 ``conv_seg``. The bottleneck output is the 256-d fused feature map used by GAP.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from flexseg.models.encoders import build_encoder


class ConvBNReLU(nn.Module):
    """conv (no bias) → BN → ReLU, mmseg's ``ConvModule`` naming (``conv``, ``bn``)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, dilation: int = 1, groups: int = 1) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class SeparableConvBNReLU(nn.Module):
    """Depthwise k×k (dilated) + pointwise 1×1, each with BN and ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, dilation: int = 1) -> None:
        super().__init__()
        self.depthwise_conv = ConvBNReLU(cin, cin, kernel, dilation=dilation, groups=cin)
        self.pointwise_conv = ConvBNReLU(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


class ASPPFusion(nn.Module):
    """ASPP-like fusion: parallel branches (1×1 for dilation 1, separable 3×3 otherwise),
    concatenated, then a 3×3 ``bottleneck``. [B,cin,h,w] → [B,channels,h,w]."""

    def __init__(self, cin: int, channels: int, dilations: Sequence[int] = (1, 6, 12, 18)) -> None:
        super().__init__()
        self.aspp_modules = nn.ModuleList(
            ConvBNReLU(cin, channels, 1) if d == 1 else SeparableConvBNReLU(cin, channels, 3, d)
            for d in dilations
        )
        self.bottleneck = ConvBNReLU(len(dilations) * channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(torch.cat([m(x) for m in self.aspp_modules], dim=1))


class LinearEmbed(nn.Module):
    """Per-pixel linear projection [B,C,h,w] → [B,D,h,w] (mmseg ``MLP``: ``proj``)."""

    def __init__(self, cin: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cin, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        y = self.proj(x.flatten(2).transpose(1, 2))
        return y.transpose(1, 2).reshape(b, -1, h, w)


class DAFormerHead(nn.Module):
    """Multi-level fusion decoder.

    Args:
        in_channels: channels of the four encoder stages.
        num_classes: output classes.
        embed_dim: width of the embeddings and the fused map (256).
        dilations: ASPP dilations; ``None`` makes the fusion one 1×1 conv+BN+ReLU
            (HRDA's light scale-attention head).
        dropout: dropout before the classifier.
    Forward: list of 4 maps → (logits [B,K,H/4,W/4], features [B,D,H/4,W/4]).
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


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad [B,C,H,W] at the bottom/right up to multiples of ``multiple``."""
    h, w = images.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        images = F.pad(images, (0, pw, 0, ph))
    return images, (h, w)


class DAFormer(nn.Module):
    """MiT encoder + DAFormer head.

    ``forward(images [B,3,H,W])`` → ``{"logits": [B,K,H/4,W/4], "features": [B,256,H/4,W/4]}``;
    ``inference(images)`` → logits [B,K,H,W] (input padded to a multiple of 32, the
    logits upsampled bilinearly and cropped back).
    """

    def __init__(
        self,
        encoder: str = "mit_b0",
        num_classes: int = 19,
        embed_dim: int = 256,
        dilations: Sequence[int] = (1, 6, 12, 18),
        dropout: float = 0.1,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.backbone = build_encoder(encoder)
        self.decode_head = DAFormerHead(self.backbone.out_channels, num_classes, embed_dim, dilations, dropout)
        self.feature_dim = embed_dim
        if pretrained:
            from flexseg.models.weights import load_pretrained_encoder

            load_pretrained_encoder(self.backbone, pretrained)

    @property
    def size_divisor(self) -> int:
        return self.backbone.output_stride

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters trained with the ×10 head learning rate."""
        return list(self.decode_head.parameters())

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        logits, features = self.decode_head(self.backbone(images))
        return {"logits": logits, "features": features}

    @torch.no_grad()
    def inference(self, images: torch.Tensor) -> torch.Tensor:
        padded, (h, w) = pad_to_multiple(images, self.size_divisor)
        logits = self.forward(padded)["logits"]
        logits = F.interpolate(logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)
        return logits[..., :h, :w]
