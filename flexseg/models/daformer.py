"""DAFormer: MiT encoder + context-aware multi-level fusion head (Hoyer et al., CVPR 2022).

The head (:class:`~flexseg.models.layers.decode_head.DAFormerHead`) and its blocks live in
:mod:`flexseg.models.layers`; their names are re-exported here. docs/models.md
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from flexseg.models.base import SegNetworkBase, SegOutput
from flexseg.models.encoders import build_encoder
from flexseg.models.layers import (
    HEAD_INITS,
    ASPPFusion,
    ConvBNReLU,
    DAFormerHead,
    LinearEmbed,
    SeparableConvBNReLU,
    as_pair,
    init_head,
    pad_to_min_size,
    pad_to_multiple,
    reference_init_,
    slide_boxes,
    slide_inference,
)
from flexseg.models.regularizers import regularizer_outputs

# the blocks lived here before flexseg.models.layers: ``from flexseg.models.daformer import X`` keeps working
__all__ = [
    "HEAD_INITS", "ASPPFusion", "ConvBNReLU", "DAFormer", "DAFormerHead", "LinearEmbed", "SeparableConvBNReLU", "as_pair",
    "init_head", "pad_to_min_size", "pad_to_multiple", "reference_init_", "slide_boxes", "slide_inference",
]


class DAFormer(SegNetworkBase):
    """MiT encoder + DAFormer head (:class:`~flexseg.models.base.SegNetwork`).

    As in mmseg, inputs are not padded to a multiple of 32 (MiT accepts any size ≥ 32 px;
    smaller inputs are zero-padded to 32 at inference); the 1/4-resolution logits are
    upsampled bilinearly to the input size.

    Args:
        encoder: ``mit_b0`` … ``mit_b5``.
        num_classes: output classes K.
        embed_dim: width D of the head (256 in the reference); ``feature_dim``.
        dilations: ASPP dilations of the head's fusion.
        dropout: dropout before the classifier.
        pretrained: SegFormer ImageNet encoder file (``weights.py``); None = random init.
        slide_window, slide_stride: test-time windows (h, w) in input pixels (the DAFormer
            reference test uses 512/256); None = whole-image inference.
        shade, feature_distance: the reference recipe's regularizers
            (:mod:`flexseg.models.regularizers`; off when None; the FD view is the whole input).
        seed: seed of SHADE's Dirichlet draws.
        head_init: ``torch`` (PyTorch defaults) or ``reference`` (mmseg's,
            :func:`~flexseg.models.layers.decode_head.reference_init_`).

    Returns:
        ``forward(images)`` → :class:`~flexseg.models.base.SegOutput` with ``logits`` and
        ``features`` (+ ``fd`` / ``hallucinated`` with the regularizers, in training);
        ``inference(images)`` → logits at the input resolution.

    Shape:
        - Input: :math:`(B, 3, H, W)`
        - ``forward``: logits :math:`(B, K, \\lceil H/4 \\rceil, \\lceil W/4 \\rceil)`,
          features :math:`(B, D, \\lceil H/4 \\rceil, \\lceil W/4 \\rceil)`
        - ``inference``: :math:`(B, K, H, W)`

    Example:
        >>> net = DAFormer("mit_b0", num_classes=3, embed_dim=8, dilations=(1, 2)).eval()
        >>> out = net(torch.randn(1, 3, 64, 96))
        >>> out["logits"].shape, out["features"].shape
        (torch.Size([1, 3, 16, 24]), torch.Size([1, 8, 16, 24]))
        >>> net.inference(torch.randn(1, 3, 40, 50)).shape
        torch.Size([1, 3, 40, 50])
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
        self.setup_encoder(pretrained, shade, feature_distance, seed)

    @property
    def size_divisor(self) -> int:
        """Smallest input size of the encoder (32); smaller inputs are padded at inference."""
        return self.backbone.output_stride

    @torch.no_grad()
    def style_features(self, images: torch.Tensor) -> torch.Tensor:
        """Stage-1 encoder map of the training view [B,C_1,H/4,W/4] (SHADE's base styles)."""
        return self.backbone.stage1(images)

    def forward(self, images: torch.Tensor) -> SegOutput:
        """Training output for images [B,3,H,W] (class doc)."""
        feats = self.backbone(images)
        logits, features = self.decode_head(feats)
        out: dict[str, Any] = {"logits": logits, "features": features}
        out.update(regularizer_outputs(self, images, feats[-1]))
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def whole_inference(self, images: torch.Tensor) -> torch.Tensor:
        """One pass over the whole input → logits [B,K,H,W]."""
        padded, (h, w) = pad_to_min_size(images, self.size_divisor)
        logits = self.forward(padded)["logits"]
        logits = F.interpolate(logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)
        return logits[..., :h, :w]
