"""Rein: learnable per-layer tokens that refine a frozen ViT's patch features
(Wei et al., "Stronger, Fewer, & Superior", CVPR 2024, arXiv 2312.04265).

Written here from the paper's description (the reference code is GPL-3.0 and is not
used). After block i of a frozen backbone, the patch features f_i [B,N,C] attend to m
learnable tokens T_i = A_i·B_i (a low-rank factorisation, A_i [m,r], B_i [r,C]):

    S_i  = softmax(f_i T_iᵀ / √C)                  [B,N,m]
    Δ̄f_i = S_i (T_i W_T + b_T)                      [B,N,C]
    Δf_i = (Δ̄f_i + f_i) W_f + b_f
    f_i ← f_i + s · Δf_i

W_T, W_f (two linear layers) and the scale s (init 1e-3) are shared by every layer;
prefix tokens (class, registers) pass unchanged. The paper's query linking to a
Mask2Former decoder is not part of it (FlexSeg's heads are per-pixel; docs/vfm.md).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["ReinRefiner"]


class ReinRefiner(nn.Module):
    """Rein's token-feature refinement for the blocks ``layers`` of a ViT of width ``dim``.

    Args:
        num_layers: depth of the backbone (one token set per refined block).
        dim: token width C.
        num_tokens: m, learnable tokens per layer (100 in the paper).
        rank: r of the factorisation T = A·B (16 in the paper).
        scale_init: initial value of the shared learnable scale s.
        patch_size: the backbone's patch size; sets the token init range
            uniform(±√(6 / (3·p² + C))) (Xavier-style over a patch's fan-in, as the paper).
        layers: indices of the refined blocks (default all).

    Shape:
        - ``forward(x, layer, num_prefix)``: x :math:`(B, P + N, C)` → same shape; the first
          ``num_prefix`` tokens unchanged; blocks not in ``layers`` pass through.

    Example:
        >>> rein = ReinRefiner(num_layers=2, dim=8, num_tokens=5, rank=2)
        >>> x = torch.randn(3, 1 + 6, 8)
        >>> y = rein(x, layer=1, num_prefix=1)
        >>> y.shape, torch.equal(y[:, :1], x[:, :1])
        (torch.Size([3, 7, 8]), True)
        >>> sum(p.numel() for p in rein.parameters())  # 2·(5·2 + 2·8) + 2·(8·8 + 8) + 1
        197
    """

    def __init__(
        self,
        num_layers: int,
        dim: int,
        num_tokens: int = 100,
        rank: int = 16,
        scale_init: float = 1e-3,
        patch_size: int = 16,
        layers: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.layers = tuple(range(num_layers)) if layers is None else tuple(int(i) for i in layers)
        if any(not 0 <= i < num_layers for i in self.layers):
            raise ValueError(f"rein layers {self.layers} outside 0..{num_layers - 1}")
        self.slot = {layer: k for k, layer in enumerate(self.layers)}
        n = len(self.layers)
        self.dim = dim
        bound = math.sqrt(6.0 / (3 * patch_size**2 + dim))
        self.tokens_a = nn.Parameter(torch.empty(n, num_tokens, rank).uniform_(-bound, bound))
        self.tokens_b = nn.Parameter(torch.empty(n, rank, dim).uniform_(-bound, bound))
        self.token_proj = nn.Linear(dim, dim)  # W_T, b_T (shared)
        self.feature_proj = nn.Linear(dim, dim)  # W_f, b_f (shared)
        self.scale = nn.Parameter(torch.tensor(float(scale_init)))

    def tokens(self, layer: int) -> torch.Tensor:
        """T_i = A_i·B_i [m,C] of block ``layer``."""
        k = self.slot[layer]
        return self.tokens_a[k] @ self.tokens_b[k]

    def delta(self, feats: torch.Tensor, layer: int) -> torch.Tensor:
        """Δf_i [B,N,C] for patch features [B,N,C] (before the scale)."""
        t = self.tokens(layer)
        attn = torch.softmax(feats @ t.t() / math.sqrt(self.dim), dim=-1)
        refined = attn @ self.token_proj(t)
        return self.feature_proj(refined + feats)

    def forward(self, x: torch.Tensor, layer: int, num_prefix: int) -> torch.Tensor:
        if layer not in self.slot:
            return x
        prefix, feats = x[:, :num_prefix], x[:, num_prefix:]
        return torch.cat([prefix, feats + self.scale * self.delta(feats, layer)], dim=1)
