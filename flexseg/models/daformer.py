"""DAFormer: MiT encoder + context-aware multi-level fusion head (Hoyer et al., CVPR 2022).

Head (names follow mmseg so published checkpoints map 1:1, see ``weights.py``):
per-stage ``Linear → 256`` (``embed_layers``), bilinear upsample to 1/4, concat
(4·256) → ``fuse_layer`` (ASPP-like: 1×1 conv and depthwise-separable 3×3 convs with
dilations 6/12/18, each + BN + ReLU) → ``bottleneck`` 3×3 conv → dropout 0.1 →
1×1 ``conv_seg``. The bottleneck output is the 256-d fused feature map used by GAP.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from flexseg.models.encoders import build_encoder
from flexseg.models.regularizers import attach_regularizers, fd_output, hallucinated


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


HEAD_INITS = ("torch", "reference")


@torch.no_grad()
def reference_init_(head: nn.Module) -> None:
    """mmseg/mmcv initialization of a decode head (the reference's ``model.init_weights()``):
    every ``ConvBNReLU`` conv kaiming-normal (fan_out, ReLU; mmcv ``ConvModule``), BN weight 1
    bias 0, the classifier ``conv_seg`` normal(0, 0.01) with bias 0 (``BaseDecodeHead``
    init_cfg); the per-stage ``Linear`` embeddings keep PyTorch's default (as in the
    reference's ``MLP``). Draws from the global torch generator."""
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
    """``torch``: leave PyTorch's default init; ``reference``: :func:`reference_init_`."""
    if head_init not in HEAD_INITS:
        raise ValueError(f"head_init must be one of {HEAD_INITS}, got {head_init!r}")
    if head_init == "reference":
        reference_init_(head)


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad [B,C,H,W] at the bottom/right up to multiples of ``multiple``."""
    h, w = images.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        images = F.pad(images, (0, pw, 0, ph))
    return images, (h, w)


def pad_to_min_size(images: torch.Tensor, min_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad [B,C,H,W] at the bottom/right so that H, W >= ``min_size``."""
    h, w = images.shape[-2:]
    ph, pw = max(min_size - h, 0), max(min_size - w, 0)
    if ph or pw:
        images = F.pad(images, (0, pw, 0, ph))
    return images, (h, w)


def as_pair(value: int | Sequence[int] | None) -> tuple[int, int] | None:
    """``512`` or ``(512, 512)`` → ``(512, 512)`` (height, width); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    h, w = (int(v) for v in value)
    return (h, w)


def slide_boxes(h: int, w: int, window: tuple[int, int], stride: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """mmseg's sliding-window grid over an h×w image: boxes (y0, x0, y1, x1).

    Windows larger than the image are clipped to it; the last row/column is shifted
    back so that every window lies inside the image.
    """
    (wh, ww), (sh, sw) = window, stride
    if min(wh, ww, sh, sw) <= 0:
        raise ValueError(f"slide window {window} and stride {stride} must be positive")
    rows = max(h - wh + sh - 1, 0) // sh + 1
    cols = max(w - ww + sw - 1, 0) // sw + 1
    boxes = []
    for r in range(rows):
        for c in range(cols):
            y1, x1 = min(r * sh + wh, h), min(c * sw + ww, w)
            boxes.append((max(y1 - wh, 0), max(x1 - ww, 0), y1, x1))
    return boxes


def slide_inference(
    predict: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    window: tuple[int, int],
    stride: tuple[int, int],
    num_classes: int,
) -> torch.Tensor:
    """Sliding-window inference (mmseg ``slide`` mode).

    ``predict(window_images [B,3,h,w]) -> logits [B,K,h,w]`` is applied to every window of
    :func:`slide_boxes`; logits are summed in float32 and divided by the number of
    windows covering each pixel. Returns [B,K,H,W].
    """
    b, _, h, w = images.shape
    out = images.new_zeros((b, num_classes, h, w), dtype=torch.float32)
    count = images.new_zeros((1, 1, h, w), dtype=torch.float32)
    for y0, x0, y1, x1 in slide_boxes(h, w, window, stride):
        out[:, :, y0:y1, x0:x1] += predict(images[:, :, y0:y1, x0:x1]).float()
        count[:, :, y0:y1, x0:x1] += 1
    return out / count


class DAFormer(nn.Module):
    """MiT encoder + DAFormer head.

    ``forward(images [B,3,H,W])`` → ``{"logits": [B,K,H/4,W/4], "features": [B,256,H/4,W/4]}``
    (sizes rounded up, as MiT's first patch embedding);
    ``inference(images)`` → logits [B,K,H,W]: whole-image inference by default, or
    sliding windows of ``slide_window`` px with ``slide_stride`` (the DAFormer reference
    test uses 512/256). ``shade`` / ``feature_distance``: the reference recipe's
    regularizers (:mod:`flexseg.models.regularizers`; off when None; the FD view is the
    whole input). ``head_init``: ``torch`` (PyTorch defaults) or ``reference`` (mmseg's,
    :func:`reference_init_`). As in mmseg, inputs are not padded to a multiple of 32 (MiT
    accepts any size ≥ 32 px; smaller inputs are zero-padded to 32); the 1/4-resolution
    logits are upsampled bilinearly to the input size.
    """

    def __init__(
        self,
        encoder: str = "mit_b0",
        num_classes: int = 19,
        embed_dim: int = 256,
        dilations: Sequence[int] = (1, 6, 12, 18),
        dropout: float = 0.1,
        pretrained: str | None = None,
        slide_window: int | Sequence[int] | None = None,
        slide_stride: int | Sequence[int] | None = None,
        shade: Mapping[str, Any] | None = None,
        feature_distance: Mapping[str, Any] | None = None,
        seed: int = 0,
        head_init: str = "torch",
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.seed = int(seed)
        self.backbone = build_encoder(encoder)
        self.decode_head = DAFormerHead(self.backbone.out_channels, num_classes, embed_dim, dilations, dropout)
        init_head(self.decode_head, head_init)
        self.feature_dim = embed_dim
        self.slide_window = as_pair(slide_window)
        self.slide_stride = as_pair(slide_stride) or self.slide_window
        if pretrained:
            from flexseg.models.weights import load_pretrained_encoder

            load_pretrained_encoder(self.backbone, pretrained)
        attach_regularizers(self, pretrained, shade, feature_distance, seed)

    @property
    def size_divisor(self) -> int:
        return self.backbone.output_stride

    @torch.no_grad()
    def style_features(self, images: torch.Tensor) -> torch.Tensor:
        """Stage-1 encoder map of the training view [B,C_1,H/4,W/4] (SHADE's base styles)."""
        return self.backbone.stage1(images)

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters trained with the ×10 head learning rate."""
        return list(self.decode_head.parameters())

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        feats = self.backbone(images)
        logits, features = self.decode_head(feats)
        out: dict[str, Any] = {"logits": logits, "features": features}
        if self.shade_cfg["enabled"] or self.fd_cfg["enabled"]:
            fd = fd_output(self, images, feats[-1])
            if fd is not None:
                out["fd"] = fd
            if hallucinated(self):
                out["hallucinated"] = True
        return out

    @torch.no_grad()
    def whole_inference(self, images: torch.Tensor) -> torch.Tensor:
        """One pass over the whole input → logits [B,K,H,W]."""
        padded, (h, w) = pad_to_min_size(images, self.size_divisor)
        logits = self.forward(padded)["logits"]
        logits = F.interpolate(logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)
        return logits[..., :h, :w]

    @torch.no_grad()
    def inference(self, images: torch.Tensor) -> torch.Tensor:
        """Logits [B,K,H,W] at the input resolution (call in eval mode)."""
        if self.slide_window is None:
            return self.whole_inference(images)
        return slide_inference(self.whole_inference, images, self.slide_window, self.slide_stride, self.num_classes)
