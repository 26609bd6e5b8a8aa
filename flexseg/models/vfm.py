"""A vision-foundation-model segmenter: a timm ViT / EVA backbone (DINOv2, DINOv3, EVA02,
CLIP) with a four-level pyramid, a per-pixel head (DAFormer's or linear) and a tuning
mode (full, frozen, LoRA, Rein) — ``model=vfm`` (docs/vfm.md). It follows the
:class:`~flexseg.models.base.SegNetwork` contract, so GAP, UBE and HAS apply unchanged.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from flexseg.models.base import SegNetworkBase, SegOutput
from flexseg.models.layers import DAFormerHead, as_pair, init_head
from flexseg.models.layers.linear_head import LinearHead
from flexseg.models.tuning import TUNING_MODES, apply_lora, count_parameters, format_counts, layer_decay_scales
from flexseg.models.vit import FeaturePyramid, ViTBackbone

__all__ = ["HEADS", "VFMSegmenter"]

log = logging.getLogger(__name__)

HEADS = ("daformer", "linear")
LORA_DEFAULTS = {"rank": 16, "alpha": 16.0, "dropout": 0.0, "start_block": 0}
REIN_DEFAULTS = {"num_tokens": 100, "rank": 16, "scale_init": 1e-3}


class VFMSegmenter(SegNetworkBase):
    """ViT / EVA backbone + pyramid + per-pixel head (:class:`~flexseg.models.base.SegNetwork`).

    Args:
        encoder: timm model name (:class:`~flexseg.models.vit.ViTBackbone`).
        num_classes: output classes K.
        pretrained: a local weight file (official DINOv2 ``*_pretrain.pth``, timm / Hugging
            Face ``model.safetensors`` / ``pytorch_model.bin``, EVA02 / CLIP files in the
            layouts timm converts; :mod:`flexseg.models.vit_weights`); None = random init.
        tuning: ``full``, ``frozen``, ``lora`` or ``rein`` (:mod:`flexseg.models.tuning`).
        head: ``daformer`` (DAFormer's fusion head, :class:`~flexseg.models.layers.DAFormerHead`)
            or ``linear`` (:class:`~flexseg.models.layers.linear_head.LinearHead`).
        patch_size: 16 resamples a patch-14 kernel at load; None = the model's own.
        img_size: the training crop side the position grid is built for.
        out_indices: the four blocks of the pyramid; None = by depth (ViT-L 7, 11, 15, 23).
        pyramid: ``bilinear`` or ``deconv`` (:class:`~flexseg.models.vit.FeaturePyramid`).
        embed_dim, dilations, dropout, head_init: the DAFormer head's (``dropout`` also the
            linear head's).
        lora: ``rank``, ``alpha``, ``dropout``, ``start_block`` (``tuning=lora``).
        rein: ``num_tokens``, ``rank``, ``scale_init`` (``tuning=rein``).
        layer_decay: layer-wise lr decay factor of the backbone (``tuning=full``); None = off.
        grad_checkpointing: recompute the training blocks' activations in backward.
        drop_path_rate: stochastic depth of the backbone's blocks.
        strict_weights: stop on missing / unexpected keys of ``pretrained``.
        slide_window, slide_stride: test-time windows (h, w); None = whole image.
        encoder_kwargs: more ``timm.create_model`` arguments (tiny test networks).

    Shape:
        - Input: :math:`(B, 3, H, W)`
        - ``forward``: logits :math:`(B, K, \\lceil H/4 \\rceil, \\lceil W/4 \\rceil)`, features
          :math:`(B, D, \\lceil H/4 \\rceil, \\lceil W/4 \\rceil)`
        - ``inference``: :math:`(B, K, H, W)`

    Example:
        >>> net = VFMSegmenter("vit_small_patch14_dinov2", num_classes=3, tuning="rein", img_size=32, embed_dim=8,
        ...                    dilations=(1,), encoder_kwargs={"depth": 4, "embed_dim": 32, "num_heads": 2})
        >>> out = net(torch.randn(2, 3, 32, 48))
        >>> out["logits"].shape, out["features"].shape
        (torch.Size([2, 3, 8, 12]), torch.Size([2, 8, 8, 12]))
        >>> net.eval().inference(torch.randn(1, 3, 30, 40)).shape
        torch.Size([1, 3, 30, 40])
    """

    def __init__(
        self,
        encoder: str = "vit_large_patch14_dinov2",
        num_classes: int = 19,
        pretrained: str | None = None,
        tuning: str = "rein",
        head: str = "daformer",
        patch_size: int | None = 16,
        img_size: int = 512,
        out_indices: Sequence[int] | None = None,
        pyramid: str = "bilinear",
        embed_dim: int = 256,
        dilations: Sequence[int] = (1, 6, 12, 18),
        dropout: float = 0.1,
        head_init: str = "reference",
        lora: Mapping[str, Any] | None = None,
        rein: Mapping[str, Any] | None = None,
        layer_decay: float | None = None,
        grad_checkpointing: bool = False,
        drop_path_rate: float = 0.0,
        strict_weights: bool = True,
        slide_window: int | Sequence[int] | None = None,
        slide_stride: int | Sequence[int] | None = None,
        encoder_kwargs: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if tuning not in TUNING_MODES:
            raise ValueError(f"model.tuning must be one of {TUNING_MODES}, got {tuning!r}")
        if head not in HEADS:
            raise ValueError(f"model.head must be one of {HEADS}, got {head!r}")
        if layer_decay is not None and tuning != "full":
            raise ValueError(f"model.layer_decay applies to model.tuning=full only (tuning={tuning}); set it to null")
        self.num_classes, self.tuning, self.seed = int(num_classes), tuning, int(seed)
        # absolute: a compact checkpoint's record must name the file from any working directory
        self.pretrained = str(Path(pretrained).expanduser().resolve()) if pretrained else None
        self.layer_decay = None if layer_decay is None else float(layer_decay)
        self.backbone = ViTBackbone(encoder, img_size, patch_size, out_indices, drop_path_rate, dict(encoder_kwargs or {}))
        self.weights_report: dict[str, Any] | None = None
        self._sha256: str | None = None
        if self.pretrained:
            from flexseg.models.vit_weights import load_vit_weights, sha256_file

            self.weights_report = load_vit_weights(self.backbone.vit, self.pretrained, strict=bool(strict_weights))
            if tuning != "full":  # hashed once, as loaded: compact checkpoints record it (≈ 3 s for ViT-L)
                self._sha256 = sha256_file(self.pretrained)
        self._apply_tuning(dict(lora or {}), dict(rein or {}))
        self.backbone.grad_checkpointing = bool(grad_checkpointing)
        self.neck = FeaturePyramid(self.backbone.embed_dim, self.backbone.patch_size, pyramid)
        if head == "daformer":
            self.decode_head: nn.Module = DAFormerHead(self.backbone.out_channels, num_classes, embed_dim, dilations, dropout)
            init_head(self.decode_head, head_init)
            self.feature_dim = int(embed_dim)
        else:
            self.decode_head = LinearHead(self.backbone.out_channels, num_classes, dropout)
            self.feature_dim = self.decode_head.feature_dim
        self.slide_window = as_pair(slide_window)
        self.slide_stride = as_pair(slide_stride) or self.slide_window
        self.parameter_counts = count_parameters(self)
        log.info("%s (%s, %s head): %s", encoder, tuning, head, format_counts(self.parameter_counts))

    # ------------------------------------------------------------------ tuning
    def _apply_tuning(self, lora: dict[str, Any], rein: dict[str, Any]) -> None:
        vit = self.backbone.vit
        if self.tuning == "full":
            return
        vit.requires_grad_(False)
        if self.tuning == "lora":
            opts = {**LORA_DEFAULTS, **lora}
            apply_lora(vit, opts["rank"], opts["alpha"], opts["dropout"], int(opts["start_block"]))
        elif self.tuning == "rein":
            from flexseg.models.rein import ReinRefiner

            opts = {**REIN_DEFAULTS, **rein}
            self.backbone.refiner = ReinRefiner(self.backbone.depth, self.backbone.embed_dim, int(opts["num_tokens"]),
                                                int(opts["rank"]), float(opts["scale_init"]), self.backbone.patch_size)

    def train(self, mode: bool = True) -> VFMSegmenter:
        """As ``nn.Module.train``; with ``tuning=frozen`` the backbone stays in eval mode."""
        super().train(mode)
        if self.tuning == "frozen":
            self.backbone.vit.eval()
        return self

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters trained with the head learning rate: the head and a learned pyramid."""
        return [*self.decode_head.parameters(), *self.neck.parameters()]

    def lr_scales(self) -> dict[str, float]:
        """Per-parameter lr multipliers of the backbone (``layer_decay``, ``tuning=full``),
        keyed by the name in ``self.named_parameters()``; empty when off."""
        if self.layer_decay is None:
            return {}
        named = [(f"backbone.vit.{n}", p) for n, p in self.backbone.vit.named_parameters()]
        return layer_decay_scales(named, self.backbone.depth, self.layer_decay)

    # ------------------------------------------------------------- checkpoints
    def backbone_file(self) -> dict[str, str] | None:
        """``{"path", "sha256"}`` of the pretrained file whose frozen weights a checkpoint
        leaves out (``frozen`` / ``lora`` / ``rein`` with ``pretrained``); None otherwise
        (the checkpoint then holds every weight)."""
        if not self.pretrained or self._sha256 is None:
            return None
        return {"path": self.pretrained, "sha256": self._sha256}

    def checkpoint_excluded_keys(self) -> list[str]:
        """``state_dict`` keys rebuilt from :meth:`backbone_file` instead of stored: the
        backbone's frozen parameters and its buffers, except those the file did not hold
        (``strict_weights=false``: they keep their random init and are stored); empty when
        ``backbone_file`` is None."""
        if self.backbone_file() is None:
            return []
        vit = self.backbone.vit
        frozen = {n for n, p in vit.named_parameters() if not p.requires_grad}
        buffers = {n for n, _ in vit.named_buffers()}
        report = self.weights_report or {}
        not_loaded = {*report.get("missing", []), *(str(m).split(":")[0] for m in report.get("mismatched", []))}
        return [f"backbone.vit.{k}" for k in vit.state_dict()
                if (k in frozen or k in buffers) and k.replace(".base_layer.", ".") not in not_loaded]

    # ----------------------------------------------------------------- forward
    def forward(self, images: torch.Tensor) -> SegOutput:
        """Training output for images [B,3,H,W] (class doc)."""
        feats = self.neck(self.backbone(images), images.shape[-2:])
        logits, features = self.decode_head(feats)
        return {"logits": logits, "features": features}  # type: ignore[return-value]

    @torch.no_grad()
    def whole_inference(self, images: torch.Tensor) -> torch.Tensor:
        """One pass over the whole input → logits [B,K,H,W]."""
        logits = self.forward(images)["logits"]
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
