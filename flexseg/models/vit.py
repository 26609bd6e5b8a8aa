"""Plain-ViT foundation-model backbones (DINOv2, DINOv3, EVA02, CLIP) from timm, as a
four-level pyramid for per-pixel heads (docs/vfm.md).

* :class:`ViTBackbone` — a timm ``VisionTransformer`` / ``Eva`` built with random init
  (weights only from local files, :mod:`flexseg.models.vit_weights`), the patch size and
  the training crop's position grid of the config, any input size at inference
  (``dynamic_img_size``; inputs are zero-padded to a multiple of the patch). It returns
  the patch tokens of four blocks as maps at the patch stride, with an optional
  per-block refiner (Rein) and activation checkpointing; blocks before the first one
  that trains run without autograd (no stored activations).
* :func:`default_out_indices` — the blocks a pyramid reads (ViT-L: 7, 11, 15, 23).
* :class:`FeaturePyramid` — patch-stride maps → strides 4 / 8 / 16 / 32 (bilinear, as
  Rein; or ``deconv``: learned transposed convolutions as ViTDet's simple pyramid).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["PYRAMIDS", "FeaturePyramid", "ViTBackbone", "default_out_indices"]

PYRAMIDS = ("bilinear", "deconv")
STRIDES = (4, 8, 16, 32)


def default_out_indices(depth: int) -> tuple[int, ...]:
    """Four blocks spread over the depth, ending with the last: ``(d/3 − 1, d/2 − 1,
    2d/3 − 1, d − 1)`` rounded — ViT-L (24) 7, 11, 15, 23 as Rein; ViT-S/B (12) 3, 5, 7,
    11 as ViTDet / DINOv2's segmentation heads; ViT-G (40) 12, 19, 26, 39.

    Example:
        >>> default_out_indices(24), default_out_indices(12), default_out_indices(40), default_out_indices(4)
        ((7, 11, 15, 23), (3, 5, 7, 11), (12, 19, 26, 39), (0, 1, 2, 3))
    """
    if depth < 4:
        raise ValueError(f"a four-level pyramid needs at least 4 blocks, the backbone has {depth}")
    picks = (round(depth / 3) - 1, depth // 2 - 1, round(2 * depth / 3) - 1, depth - 1)
    out: list[int] = []
    for i in picks:  # strictly increasing, also for shallow test networks
        out.append(max(i, out[-1] + 1 if out else 0))
    return tuple(out)


class ViTBackbone(nn.Module):
    """A timm plain ViT / EVA returning the patch tokens of four blocks as maps.

    Args:
        encoder: a timm model name (``vit_large_patch14_dinov2``,
            ``vit_large_patch14_reg4_dinov2``, ``vit_large_patch16_dinov3``,
            ``eva02_large_patch14_clip_224``, ``vit_large_patch14_clip_224``, …).
        img_size: the training crop (square side); the position embedding is built for
            its grid (resampled from the file's at load) and interpolated at other sizes.
        patch_size: patch size (16 resamples a patch-14 kernel at load); None = the model's.
        out_indices: the four blocks read; None = :func:`default_out_indices`.
        drop_path_rate: stochastic depth of the blocks.
        timm_kwargs: further ``timm.create_model`` arguments (tests: ``depth``,
            ``embed_dim``, ``num_heads`` for tiny networks).

    Shape:
        - Input: :math:`(B, 3, H, W)`
        - Output: four :math:`(B, C, \\lceil H/p \\rceil, \\lceil W/p \\rceil)` (C = ``embed_dim``)

    Example:
        >>> bb = ViTBackbone("vit_small_patch14_dinov2", img_size=32, patch_size=16,
        ...                  timm_kwargs={"depth": 4, "embed_dim": 32, "num_heads": 2})
        >>> [tuple(f.shape) for f in bb(torch.randn(1, 3, 40, 64))]
        [(1, 32, 3, 4), (1, 32, 3, 4), (1, 32, 3, 4), (1, 32, 3, 4)]
        >>> bb.out_indices, bb.patch_size
        ((0, 1, 2, 3), 16)
    """

    def __init__(
        self,
        encoder: str,
        img_size: int = 512,
        patch_size: int | None = None,
        out_indices: Sequence[int] | None = None,
        drop_path_rate: float = 0.0,
        timm_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        import timm

        if not timm.is_model(encoder):
            raise ValueError(f"model.encoder={encoder!r} is not a timm model name; plain ViT / EVA names such as "
                             "vit_large_patch14_dinov2, vit_large_patch16_dinov3, eva02_large_patch14_clip_224 (docs/vfm.md)")
        kwargs = dict(timm_kwargs or {})
        if patch_size is not None:
            kwargs["patch_size"] = int(patch_size)
        self.encoder = encoder
        self.vit = timm.create_model(encoder, pretrained=False, num_classes=0, img_size=int(img_size),
                                     dynamic_img_size=True, drop_path_rate=float(drop_path_rate), **kwargs)
        if not hasattr(self.vit, "blocks") or not hasattr(self.vit, "_pos_embed"):
            raise ValueError(f"model.encoder={encoder!r} is not a plain ViT / EVA (no blocks / position embedding)")
        self.is_eva = type(self.vit).__name__ == "Eva"
        self.depth = len(self.vit.blocks)
        self.embed_dim = int(self.vit.embed_dim)
        self.num_prefix = int(getattr(self.vit, "num_prefix_tokens", 1))
        p = self.vit.patch_embed.patch_size
        self.patch_size = int(p[0] if isinstance(p, (tuple, list)) else p)
        self.img_size = int(img_size)
        self.out_indices = tuple(int(i) for i in (default_out_indices(self.depth) if out_indices is None else out_indices))
        if len(self.out_indices) != 4 or any(not 0 <= i < self.depth for i in self.out_indices):
            raise ValueError(f"model.out_indices={list(self.out_indices)}: four block indices in 0..{self.depth - 1} expected")
        self.out_channels = (self.embed_dim,) * 4
        #: per-block refiner called as refiner(tokens, block_index, num_prefix) (Rein); None = off
        self.refiner: nn.Module | None = None
        #: activation checkpointing of the blocks that train (model.grad_checkpointing)
        self.grad_checkpointing = False

    def first_grad_block(self) -> int:
        """Index of the first block whose output needs autograd: the first block holding a
        trainable parameter, or the block after the first refined one (a refiner
        trains from the block's output), or 0 when an embedding trains; ``depth`` when
        nothing in the backbone trains. Blocks before it run under ``no_grad``."""
        first = self.depth
        if any(p.requires_grad for n, p in self.vit.named_parameters() if not n.startswith(("blocks.", "norm.", "fc_norm.", "head"))):
            return 0
        for i, blk in enumerate(self.vit.blocks):
            if any(p.requires_grad for p in blk.parameters()):
                first = i
                break
        refiner = self.refiner
        if refiner is not None and any(p.requires_grad for p in refiner.parameters()):
            layers = getattr(refiner, "layers", range(self.depth))
            first = min(first, min(layers) + 1)
        return first

    def _block(self, blk: nn.Module, x: torch.Tensor, rope: torch.Tensor | None) -> torch.Tensor:
        return blk(x, rope=rope) if self.is_eva else blk(x)

    def pad(self, images: torch.Tensor) -> torch.Tensor:
        """Zero-pad the bottom and right edges to a multiple of the patch size."""
        h, w = images.shape[-2:]
        ph, pw = -h % self.patch_size, -w % self.patch_size
        return F.pad(images, (0, pw, 0, ph)) if ph or pw else images

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images [B,3,H,W] → the tokens of ``out_indices`` as [B,C,⌈H/p⌉,⌈W/p⌉] maps."""
        vit = self.vit
        first = self.first_grad_block() if torch.is_grad_enabled() else self.depth
        with torch.set_grad_enabled(torch.is_grad_enabled() and first == 0):
            x = vit.patch_embed(self.pad(images))  # [B, gh, gw, C] (dynamic_img_size)
            b, gh, gw, _ = x.shape
            if self.is_eva:
                x, rope = vit._pos_embed(x)
            else:
                x, rope = vit._pos_embed(x), None
            x = vit.norm_pre(getattr(vit, "patch_drop", nn.Identity())(x))
        mixed = self.is_eva and getattr(vit, "rope_mixed", False) and rope is not None
        outs = []
        grad_on = torch.is_grad_enabled()
        for i, blk in enumerate(vit.blocks):
            r = rope[i] if mixed else rope
            with torch.set_grad_enabled(grad_on and i >= first):
                if self.grad_checkpointing and self.training and grad_on and i >= first:
                    x = checkpoint(self._block, blk, x, r, use_reentrant=False)
                else:
                    x = self._block(blk, x, r)
            if self.refiner is not None:
                x = self.refiner(x, i, self.num_prefix)
            if i in self.out_indices:
                outs.append(x[:, self.num_prefix:].transpose(1, 2).reshape(b, self.embed_dim, gh, gw))
        return outs


class FeaturePyramid(nn.Module):
    """Patch-stride maps → strides 4, 8, 16, 32 of the input.

    ``bilinear`` (Rein's): each of the four maps is resized bilinearly to its stride's grid
    (no parameters; ×4, ×2, ×1, ×0.5 for patch 16). ``deconv`` (ViTDet's simple pyramid):
    two transposed 2×2 convolutions (with BatchNorm + GELU between) for stride 4, one for
    stride 8, identity for 16, 2×2 max-pooling for 32, then a bilinear resize to the exact
    grid when the patch is not 16.

    Args:
        dim: channels C of the maps.
        patch_size: the backbone's patch p.
        mode: ``bilinear`` or ``deconv``.

    Shape:
        - ``forward(maps, size)``: four :math:`(B, C, \\lceil H_p/p \\rceil, \\lceil W_p/p \\rceil)`,
          ``size`` = (H, W) of the input → :math:`(B, C, \\lceil H/s \\rceil, \\lceil W/s \\rceil)`
          for s = 4, 8, 16, 32

    Example:
        >>> pyr = FeaturePyramid(8, patch_size=16)
        >>> maps = [torch.randn(1, 8, 4, 6) for _ in range(4)]
        >>> [tuple(m.shape[-2:]) for m in pyr(maps, (64, 96))]
        [(16, 24), (8, 12), (4, 6), (2, 3)]
    """

    def __init__(self, dim: int, patch_size: int, mode: str = "bilinear") -> None:
        super().__init__()
        if mode not in PYRAMIDS:
            raise ValueError(f"model.pyramid must be one of {PYRAMIDS}, got {mode!r}")
        self.mode, self.patch_size = mode, int(patch_size)
        self.learned = nn.ModuleList()
        if mode == "deconv":
            self.learned.extend([
                nn.Sequential(nn.ConvTranspose2d(dim, dim, 2, 2), nn.BatchNorm2d(dim), nn.GELU(), nn.ConvTranspose2d(dim, dim, 2, 2)),
                nn.ConvTranspose2d(dim, dim, 2, 2),
                nn.Identity(),
                nn.MaxPool2d(2, ceil_mode=True),
            ])

    def forward(self, maps: Sequence[torch.Tensor], size: Sequence[int]) -> list[torch.Tensor]:
        h, w = int(size[0]), int(size[1])
        out = []
        for k, (m, s) in enumerate(zip(maps, STRIDES)):
            target = (math.ceil(h / s), math.ceil(w / s))
            # the maps cover the input padded to a multiple of the patch: its grid at stride s
            padded = (math.ceil(m.shape[-2] * self.patch_size / s), math.ceil(m.shape[-1] * self.patch_size / s))
            if self.learned:
                m = self.learned[k](m)
            if tuple(m.shape[-2:]) != padded:
                m = F.interpolate(m, size=padded, mode="bilinear", align_corners=False)
            out.append(m[..., : target[0], : target[1]])
        return out
