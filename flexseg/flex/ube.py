"""UBE — uncertainty boundary emphasis: boundary pixels' cross-entropy is re-weighted by
their (standardized) predictive entropy.

Per pixel: H = −Σ_c p_c log p_c of the softmax of the DETACHED logits (the weights carry
no gradient). Per image, μ_H and σ_H (population std) are taken over its non-ignored
pixels. Boundary pixels get w = 1 + α·sigmoid((H − μ_H)/(σ_H + ε)); interior pixels
w = 1; ignored pixels w = 0. L_UBE = Σ w·CE / N with N the number of non-ignored pixels
of the whole batch, so with α = 0 (or no boundary pixel) L_UBE equals
``F.cross_entropy(logits, target, ignore_index=ignore_index)``. An all-ignored batch
gives 0 (finite, still attached to the graph) instead of cross-entropy's NaN.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "ube_pixel_weights", "ube_weights_from_entropy", "ube_pixel_loss", "ube_loss", "pixel_entropy",
    "entropy_from_log_probs",
]


def _check(logits: torch.Tensor, target: torch.Tensor, boundary: torch.Tensor | None) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 4 or not logits.is_floating_point():
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a float tensor [B,C,H,W], got {shape}")
    if not isinstance(target, torch.Tensor) or target.ndim != 3:
        shape = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
        raise ValueError(f"target must be a tensor [B,H,W], got {shape}")
    if target.dtype == torch.bool or target.is_floating_point():
        raise ValueError(f"target must be an integer tensor (int64), got dtype {target.dtype}")
    B, _, H, W = logits.shape
    if tuple(target.shape) != (B, H, W):
        raise ValueError(f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)} ([B,H,W] expected)")
    if boundary is not None:
        if not isinstance(boundary, torch.Tensor) or boundary.dtype != torch.bool:
            raise ValueError("boundary must be a BoolTensor [B,H,W]")
        if tuple(boundary.shape) != (B, H, W):
            raise ValueError(f"boundary shape {tuple(boundary.shape)} does not match target {tuple(target.shape)}")


def pixel_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the softmax over dim 1 of DETACHED ``logits`` [B,C,H,W] → [B,H,W] float32."""
    return entropy_from_log_probs(F.log_softmax(logits.detach().float(), dim=1))


def entropy_from_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """H = −Σ_c p_c log p_c of DETACHED log-probabilities [B,C,H,W] (a log_softmax over
    dim 1) → [B,H,W] float32; lets a caller that already has the log-softmax of the
    logits (cross-entropy does) skip computing it again."""
    logp = log_probs.detach().float()
    p = logp.exp()
    return -torch.nansum(p * logp, dim=1)  # 0·(−inf) = NaN counts as 0


def ube_pixel_weights(
    logits: torch.Tensor,
    target: torch.Tensor,
    boundary: torch.Tensor,
    alpha: float = 3.0,
    eps: float = 1e-6,
    ignore_index: int = 255,
) -> torch.Tensor:
    """Detached UBE weights [B,H,W] float32: 1 + α·sigmoid(z) on non-ignored boundary
    pixels, 1 on non-ignored interior pixels, 0 on ignored pixels.

    z = (H − μ_H)/(σ_H + ε), with μ_H, σ_H (population std) over each image's
    non-ignored pixels; ``logits`` [B,C,H,W], ``target`` [B,H,W], ``boundary`` bool [B,H,W].
    """
    _check(logits, target, boundary)
    return ube_weights_from_entropy(pixel_entropy(logits), target, boundary, alpha, eps, ignore_index)


def ube_weights_from_entropy(
    ent: torch.Tensor,
    target: torch.Tensor,
    boundary: torch.Tensor,
    alpha: float = 3.0,
    eps: float = 1e-6,
    ignore_index: int = 255,
) -> torch.Tensor:
    """:func:`ube_pixel_weights` from the pixel entropy ``ent`` [B,H,W] float32 (e.g.
    :func:`entropy_from_log_probs`) instead of the logits; shapes are not re-checked."""
    valid = target != ignore_index
    vf = valid.to(ent.dtype)
    n = vf.sum(dim=(1, 2), keepdim=True).clamp_min(1.0)
    mu = (ent * vf).sum(dim=(1, 2), keepdim=True) / n
    var = (((ent - mu) ** 2) * vf).sum(dim=(1, 2), keepdim=True) / n
    sigma = var.sqrt()
    emphasis = 1.0 + float(alpha) * torch.sigmoid((ent - mu) / (sigma + eps))
    w = torch.where(boundary & valid, emphasis, torch.ones_like(ent))
    return (w * vf).detach()


def ube_pixel_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    boundary: torch.Tensor,
    alpha: float = 3.0,
    eps: float = 1e-6,
    ignore_index: int = 255,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel UBE loss → (loss_map [B,H,W] = w·CE, 0 on ignored pixels; valid mask
    [B,H,W] bool of non-ignored pixels). The per-image mean loss is
    ``loss_map.sum((1,2)) / valid.sum((1,2)).clamp(min=1)``."""
    w = ube_pixel_weights(logits, target, boundary, alpha, eps, ignore_index)
    ce = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
    return w.to(ce.dtype) * ce, target != ignore_index


def ube_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    boundary: torch.Tensor,
    alpha: float = 3.0,
    eps: float = 1e-6,
    ignore_index: int = 255,
) -> torch.Tensor:
    """L_UBE = Σ w·CE / N over the batch's non-ignored pixels (N of them) → scalar.

    ``logits`` [B,C,H,W] (at label resolution), ``target`` [B,H,W] int64,
    ``boundary`` bool [B,H,W]. All-ignored batch → 0 (finite, attached to the graph).
    """
    loss_map, valid = ube_pixel_loss(logits, target, boundary, alpha, eps, ignore_index)
    return loss_map.sum() / valid.sum().clamp_min(1).to(loss_map.dtype)
