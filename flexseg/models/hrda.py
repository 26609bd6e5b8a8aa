"""HRDA: multi-resolution training with a learned scale attention (Hoyer et al., ECCV 2022).

One MiT encoder and one DAFormer head are shared by an LR context view (the input resized
by ``lr_scale``) and an HR detail crop; a light second head on the LR features gives a
per-class attention that fuses both: ``fused = up(att)·HR + up((1−att)·LR)``. Training
returns the fused logits (weight 0.9), the HR crop's logits as an ``aux`` term (0.1) and
the HR crop's decoder features for GAP (``features_box`` = the crop); inference slides
windows over the image and HR crops inside each window. The fusion, the crop RNG, how GAP
and UBE apply to HRDA and the inference protocol: docs/models.md.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from flexseg.models.base import Box, SegNetworkBase, SegOutput
from flexseg.models.encoders import build_encoder
from flexseg.models.layers import DAFormerHead, as_pair, init_head, pad_to_multiple, slide_boxes
from flexseg.models.regularizers import regularizer_outputs


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class HRDAHead(nn.Module):
    """The two heads of HRDA, named as mmseg's ``HRDAHead`` (``head``, ``scale_attention``).

    ``head``: DAFormer head (ASPP fusion) shared by the LR and HR passes;
    ``scale_attention``: DAFormer head with a 1×1 conv fusion, ``num_classes`` outputs
    (one attention per class) or 1 when not class-wise. The module itself has no
    ``forward``: the network calls ``head`` and :meth:`attention`.

    Args:
        in_channels, num_classes, embed_dim, dilations, dropout: the DAFormer ``head``.
        attention_embed_dim: width of the scale-attention head.
        attention_classwise: one attention map per class (True) or a single one.

    Example:
        >>> heads = HRDAHead([4, 8], num_classes=3, embed_dim=4, dilations=(1,), attention_embed_dim=2)
        >>> att = heads.attention([torch.randn(1, 4, 6, 6), torch.randn(1, 8, 3, 3)])
        >>> att.shape, bool(((att >= 0) & (att <= 1)).all())
        (torch.Size([1, 3, 6, 6]), True)
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int = 19,
        embed_dim: int = 256,
        dilations: Sequence[int] = (1, 6, 12, 18),
        dropout: float = 0.1,
        attention_embed_dim: int = 256,
        attention_classwise: bool = True,
    ) -> None:
        super().__init__()
        self.head = DAFormerHead(in_channels, num_classes, embed_dim, dilations, dropout)
        self.scale_attention = DAFormerHead(
            in_channels, num_classes if attention_classwise else 1, attention_embed_dim, None, dropout
        )

    def attention(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """LR encoder maps → attention [B,K|1,h,w] in [0, 1]."""
        return torch.sigmoid(self.scale_attention(feats)[0])


class HRDA(SegNetworkBase):
    """HRDA segmentation network (MiT encoder + DAFormer head + scale attention).

    Args:
        encoder: ``mit_b0`` … ``mit_b5``.
        num_classes: output classes.
        hr_crop_size: detail crop (h, w) in HR input pixels (512).
        lr_scale: scale of the context view (0.5); 1/lr_scale must be an integer.
        hr_loss_weight: weight of the HR-crop loss term (0.1).
        lr_loss_weight: weight of an extra LR loss term (0, as HRDA).
        fused_loss_weight: weight of the fused term; default 1 − hr − lr (0.9).
        crop_divisor: crop offsets are multiples of this (8); must be a multiple of
            4/lr_scale.
        slide_window, slide_stride: test-time windows in HR input pixels (1024, 512);
            ``None`` window = whole-image inference.
        hr_slide_overlap: HR crops inside a window with stride hr_crop/2 (True) or
            hr_crop (False).
        embed_dim, dilations, dropout: DAFormer head.
        attention_embed_dim, attention_classwise: scale-attention head.
        pretrained: SegFormer ImageNet encoder file (see ``weights.py``).
        seed: seed of the crop generator (and of SHADE's Dirichlet draws).
        crop_positions: ``all`` aligned offsets 0, d, …, H−h, or ``reference`` = lhoyer/HRDA's
            ``get_crop_bbox`` (offsets 0 … ((H−h+1)//d − 1)·d: the last aligned position is
            never drawn when H−h is a multiple of d).
        head_init: ``torch`` (PyTorch defaults) or ``reference`` (mmseg's init of both heads,
            :func:`flexseg.models.layers.decode_head.reference_init_`).
        shade, feature_distance: the reference recipe's regularizers
            (:mod:`flexseg.models.regularizers`; off when None).

    Returns:
        ``forward(images)`` → :class:`~flexseg.models.base.SegOutput`: ``logits`` (fused,
        whole context), ``logits_weight`` (``fused_loss_weight``), ``features`` (HR decoder
        features of the detail crop), ``features_box`` (the crop), ``aux`` = [HR logits of
        the crop, weight ``hr_loss_weight``] (+ the LR logits, box None, when
        ``lr_loss_weight`` > 0); ``inference(images)`` → logits at the input resolution.

    Shape:
        - Input (training): :math:`(B, 3, H, W)`, H and W multiples of 4/lr_scale
        - ``forward``: logits :math:`(B, K, H/4, W/4)`, features :math:`(B, D, h/4, w/4)`
          for a detail crop of h×w = ``hr_crop_size`` (clipped to the input)
        - ``inference``: any :math:`(B, 3, H, W)` → :math:`(B, K, H, W)`

    Example:
        >>> net = HRDA("mit_b0", num_classes=3, hr_crop_size=32, slide_window=None, embed_dim=8,
        ...            attention_embed_dim=8, dilations=(1, 2)).train()
        >>> out = net(torch.randn(1, 3, 64, 96), crop_box=(0, 32, 32, 64))
        >>> out["logits"].shape, out["features"].shape, out["features_box"], out["logits_weight"]
        (torch.Size([1, 3, 16, 24]), torch.Size([1, 8, 8, 8]), (0, 32, 32, 64), 0.9)
        >>> net.eval().inference(torch.randn(1, 3, 50, 70)).shape
        torch.Size([1, 3, 50, 70])
    """

    def __init__(
        self,
        encoder: str = "mit_b5",
        num_classes: int = 19,
        hr_crop_size: int | Sequence[int] = (512, 512),
        lr_scale: float = 0.5,
        hr_loss_weight: float = 0.1,
        lr_loss_weight: float = 0.0,
        fused_loss_weight: float | None = None,
        crop_divisor: int = 8,
        slide_window: int | Sequence[int] | None = (1024, 1024),
        slide_stride: int | Sequence[int] | None = (512, 512),
        hr_slide_overlap: bool = True,
        embed_dim: int = 256,
        dilations: Sequence[int] = (1, 6, 12, 18),
        dropout: float = 0.1,
        attention_embed_dim: int = 256,
        attention_classwise: bool = True,
        pretrained: str | None = None,
        seed: int = 0,
        crop_positions: str = "all",
        shade: Mapping[str, Any] | None = None,
        feature_distance: Mapping[str, Any] | None = None,
        head_init: str = "torch",
    ) -> None:
        super().__init__()
        inv = 1.0 / lr_scale
        if not (0 < lr_scale <= 1) or abs(inv - round(inv)) > 1e-6:
            raise ValueError(f"lr_scale must be 1/n for an integer n >= 1, got {lr_scale}")
        self.lr_scale = float(lr_scale)
        #: stride of the LR logits w.r.t. the HR input (8 for lr_scale 0.5)
        self.lr_stride = 4 * int(round(inv))
        self.hr_crop_size = as_pair(hr_crop_size)
        if any(s % self.lr_stride for s in self.hr_crop_size):
            raise ValueError(f"hr_crop_size {self.hr_crop_size} must be multiples of 4/lr_scale = {self.lr_stride}")
        if crop_divisor <= 0 or crop_divisor % self.lr_stride:
            raise ValueError(f"crop_divisor {crop_divisor} must be a positive multiple of 4/lr_scale = {self.lr_stride}")
        self.crop_divisor = int(crop_divisor)
        if crop_positions not in ("all", "reference"):
            raise ValueError(f"crop_positions must be 'all' or 'reference', got {crop_positions!r}")
        self.crop_positions = crop_positions
        self.hr_loss_weight = float(hr_loss_weight)
        self.lr_loss_weight = float(lr_loss_weight)
        self.fused_loss_weight = (
            1.0 - self.hr_loss_weight - self.lr_loss_weight if fused_loss_weight is None else float(fused_loss_weight)
        )
        self.slide_window = as_pair(slide_window)
        self.slide_stride = as_pair(slide_stride) or self.slide_window
        self.hr_slide_overlap = hr_slide_overlap
        self.num_classes = num_classes
        self.feature_dim = embed_dim
        self.seed = int(seed)

        self.backbone = build_encoder(encoder)
        self.decode_head = HRDAHead(
            self.backbone.out_channels, num_classes, embed_dim, dilations, dropout,
            attention_embed_dim, attention_classwise,
        )
        init_head(self.decode_head, head_init)
        self.register_buffer("crop_step", torch.zeros((), dtype=torch.long))
        self._host_crop_step: int | None = None  # host copy of crop_step: reading a GPU buffer waits for the GPU
        self.setup_encoder(pretrained, shade, feature_distance, seed)

    # ----------------------------------------------------------------- contract
    @property
    def size_divisor(self) -> int:
        """HR input sizes divisible by this make the LR view a multiple of 32 (64)."""
        return self.backbone.output_stride * int(round(1.0 / self.lr_scale))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[override]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._host_crop_step = None  # re-read the loaded crop_step at the next draw

    # -------------------------------------------------------------------- crops
    def draw_crop_box(self, height: int, width: int) -> Box:
        """Detail-crop box (y0, x0, y1, x1) for an input of height×width.

        Training: random aligned offsets from the seeded generator (advances
        ``crop_step``); eval: the centred aligned box.
        """
        ch, cw = min(self.hr_crop_size[0], height), min(self.hr_crop_size[1], width)
        d = self.crop_divisor
        if self.crop_positions == "all":
            ny, nx = (height - ch) // d + 1, (width - cw) // d + 1  # every aligned position
        else:  # lhoyer/HRDA get_crop_bbox: randint(0, (margin + 1) // d) · d (the last one excluded)
            ny, nx = max((height - ch + 1) // d, 1), max((width - cw + 1) // d, 1)
        if self.training:
            if self._host_crop_step is None:  # once after construction or a state_dict load
                self._host_crop_step = int(self.crop_step.item())
            step = self._host_crop_step
            self._host_crop_step += 1
            self.crop_step.fill_(self._host_crop_step)  # the checkpointed buffer, without a host sync
            g = torch.Generator().manual_seed(
                (self.seed * 2_654_435_761 + step * 40_503 + _rank() * 1_000_000_007) % (2**63 - 1)
            )
            iy = int(torch.randint(ny, (1,), generator=g))
            ix = int(torch.randint(nx, (1,), generator=g))
        else:
            iy, ix = (ny - 1) // 2, (nx - 1) // 2
        y0, x0 = iy * d, ix * d
        return (y0, x0, y0 + ch, x0 + cw)

    # ------------------------------------------------------------------- fusion
    def _lr_box_mask(self, att: torch.Tensor, box: Box) -> torch.Tensor:
        """[1,1,h,w] on the LR grid of ``att``: 1 inside ``box`` (input pixels), else 0."""
        y0, x0, y1, x1 = (v // self.lr_stride for v in box)
        mask = att.new_zeros((1, 1, *att.shape[-2:]))
        mask[:, :, y0:y1, x0:x1] = 1
        return mask

    def lr_view(self, images: torch.Tensor) -> torch.Tensor:
        """The LR (context) view: images resized by ``lr_scale``."""
        if self.lr_scale != 1.0:
            return F.interpolate(images, scale_factor=self.lr_scale, mode="bilinear", align_corners=False)
        return images

    def lr_pass(self, images: torch.Tensor, return_feats: bool = False):
        """HR images → (LR logits [B,K,h/s,w/s], attention [B,K|1,h/s,w/s]), s = 4/lr_scale
        (+ the LR view and its encoder maps when ``return_feats``)."""
        lr = self.lr_view(images)
        feats = self.backbone(lr)
        logits, _ = self.decode_head.head(feats)
        if return_feats:
            return logits, self.decode_head.attention(feats), lr, feats
        return logits, self.decode_head.attention(feats)

    @torch.no_grad()
    def style_features(self, images: torch.Tensor) -> torch.Tensor:
        """Stage-1 encoder map of the LR view (the reference's ``forward_style`` at
        ``feature_scale`` = lr_scale) → [B,C_1,h,w] (SHADE's base styles)."""
        return self.backbone.stage1(self.lr_view(images))

    def fuse(
        self,
        lr_logits: torch.Tensor,
        att: torch.Tensor,
        hr_logits: torch.Tensor,
        out_size: Sequence[int],
        box: Box | None = None,
    ) -> torch.Tensor:
        """Scale-attention fusion (HRDAHead.forward).

        lr_logits, att: LR grid (stride 4/lr_scale); hr_logits: 1/4 grid of ``box``
        (or of the whole input when ``box`` is None); out_size: 1/4 grid of the input.
        Returns up(att)·HR_inserted + up((1−att)·LR) [B,K,*out_size].
        """
        if box is not None:
            att = att * self._lr_box_mask(att, box)
        up_lr = _resize((1 - att) * lr_logits, out_size)
        att = _resize(att, out_size)
        if box is not None:
            y0, x0, y1, x1 = (v // 4 for v in box)
            h, w = out_size
            if tuple(hr_logits.shape[-2:]) != (y1 - y0, x1 - x0):
                raise RuntimeError(f"HR logits {tuple(hr_logits.shape[-2:])} do not fit crop box {box} on the 1/4 grid")
            hr_logits = F.pad(hr_logits, (x0, w - x1, y0, h - y1))
        return att * hr_logits + up_lr

    # ------------------------------------------------------------------ training
    def forward(self, images: torch.Tensor, crop_box: Box | None = None) -> SegOutput:
        """Context crop [B,3,H,W] (H, W multiples of 4/lr_scale) → training output (class doc);
        ``crop_box`` forces the detail crop (else drawn, see :meth:`draw_crop_box`)."""
        h, w = images.shape[-2:]
        if h % self.lr_stride or w % self.lr_stride:
            raise ValueError(
                f"HRDA training input {h}×{w} must be a multiple of 4/lr_scale = {self.lr_stride} px "
                f"(use crops that are multiples of size_divisor = {self.size_divisor})"
            )
        box = tuple(int(v) for v in crop_box) if crop_box is not None else self.draw_crop_box(h, w)
        y0, x0, y1, x1 = box
        if any(v % self.lr_stride for v in box) or not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
            raise ValueError(
                f"crop box {box} must lie inside {h}×{w} with coordinates multiples of 4/lr_scale = {self.lr_stride}"
            )
        lr_logits, att, lr_view, lr_feats = self.lr_pass(images, return_feats=True)
        hr_logits, hr_features = self.decode_head.head(self.backbone(images[:, :, y0:y1, x0:x1]))
        fused = self.fuse(lr_logits, att, hr_logits, (h // 4, w // 4), box)
        aux = [{"logits": hr_logits, "box": box, "weight": self.hr_loss_weight}]
        if self.lr_loss_weight > 0:  # as lhoyer/HRDA's HRDAHead: the LR logits scaled by (1 − masked attention)
            aux.append({"logits": (1 - att * self._lr_box_mask(att, box)) * lr_logits, "box": None, "weight": self.lr_loss_weight})
        out: dict[str, Any] = {
            "logits": fused,
            "logits_weight": self.fused_loss_weight,
            "features": hr_features,
            "features_box": box,
            "aux": aux,
        }
        # feature distance on the LR view's last stage vs the context labels (reference
        # feature_scale = 0.5); SHADE doubles both passes
        out.update(regularizer_outputs(self, lr_view, lr_feats[-1]))
        return out  # type: ignore[return-value]

    # ----------------------------------------------------------------- inference
    def hr_slide_logits(self, images: torch.Tensor) -> torch.Tensor:
        """HR logits of a window [B,3,h,w] (h, w multiples of 8) from overlapping
        ``hr_crop_size`` crops (one batched pass), averaged on the 1/4 grid in float32
        → [B,K,h/4,w/4]."""
        b, _, h, w = images.shape
        ch, cw = self.hr_crop_size
        stride = (ch // 2, cw // 2) if self.hr_slide_overlap else (ch, cw)
        boxes = slide_boxes(h, w, (ch, cw), stride)
        crops = torch.cat([images[:, :, y0:y1, x0:x1] for y0, x0, y1, x1 in boxes], dim=0)
        logits, _ = self.decode_head.head(self.backbone(crops))
        out = logits.new_zeros((b, logits.shape[1], h // 4, w // 4), dtype=torch.float32)
        count = logits.new_zeros((1, 1, h // 4, w // 4), dtype=torch.float32)
        for i, (y0, x0, y1, x1) in enumerate(boxes):
            out[:, :, y0 // 4 : y1 // 4, x0 // 4 : x1 // 4] += logits[i * b : (i + 1) * b].float()
            count[:, :, y0 // 4 : y1 // 4, x0 // 4 : x1 // 4] += 1
        return out / count

    def predict_window(self, images: torch.Tensor) -> torch.Tensor:
        """One window [B,3,h,w] (h, w multiples of size_divisor) → fused logits [B,K,h/4,w/4]."""
        h, w = images.shape[-2:]
        lr_logits, att = self.lr_pass(images)
        return self.fuse(lr_logits, att, self.hr_slide_logits(images), (h // 4, w // 4), None)

    @torch.no_grad()
    def whole_inference(self, images: torch.Tensor) -> torch.Tensor:
        """One window over the whole input → logits [B,K,H,W]."""
        padded, (h, w) = pad_to_multiple(images, self.size_divisor)
        logits = _resize(self.predict_window(padded), padded.shape[-2:])
        return logits[..., :h, :w]


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


__all__ = ["HRDA", "HRDAHead"]
