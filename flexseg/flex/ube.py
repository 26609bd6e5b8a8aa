"""UBE — uncertainty boundary emphasis: boundary pixels' cross-entropy is re-weighted by
their standardized predictive entropy (docs/design.md §1, §3; docs/flex.md).

    w = 1 + α·sigmoid((H − μ_H)/(σ_H + ε)) on boundary pixels, 1 inside, 0 ignored;
    L_UBE = Σ w·CE / N over the batch's N non-ignored pixels.

H comes from the DETACHED softmax (the weights carry no gradient); μ_H and σ_H
(population std) are per image over its non-ignored pixels. With α = 0 (or no boundary
pixel) L_UBE equals ``F.cross_entropy(logits, target, ignore_index=ignore_index)``; an
all-ignored batch gives 0 (finite, attached to the graph) instead of NaN.
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
    """Entropy H = −Σ_c p_c log p_c (nats) of the softmax over dim 1 of the DETACHED logits.

    Args:
        logits: class scores.

    Returns:
        float32 entropy without gradient.

    Shape:
        - logits: :math:`(B, C, H, W)`; output: :math:`(B, H, W)`.

    Example:
        >>> pixel_entropy(torch.tensor([[[[0.0]], [[0.0]]]]))  # two equal classes: log 2
        tensor([[[0.6931]]])
    """
    return entropy_from_log_probs(F.log_softmax(logits.detach().float(), dim=1))


def entropy_from_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """H = −Σ_c p_c log p_c of DETACHED log-probabilities, for a caller that already has
    the log-softmax of the logits (cross-entropy does). 0·log 0 counts as 0.

    Args:
        log_probs: a ``log_softmax`` over dim 1.

    Returns:
        float32 entropy without gradient.

    Shape:
        - log_probs: :math:`(B, C, H, W)`; output: :math:`(B, H, W)`.

    Example:
        >>> entropy_from_log_probs(torch.tensor([[[[0.0]], [[float("-inf")]]]])).abs()  # one sure class
        tensor([[[0.]]])
    """
    logp = log_probs.detach().float()
    p = logp.exp()
    return -torch.nansum(p * logp, dim=1)  # 0·(−inf) = NaN counts as 0


def ube_pixel_weights(
    logits: torch.Tensor,
    target: torch.Tensor,
    boundary: torch.Tensor,
    alpha: float,
    eps: float,
    ignore_index: int = 255,
) -> torch.Tensor:
    """Detached UBE weights: 1 + α·sigmoid(z) on non-ignored boundary pixels, 1 on
    non-ignored interior pixels, 0 on ignored pixels; z = (H − μ_H)/(σ_H + ε).

    Args:
        logits: class scores (detached here).
        target: class ids, ``ignore_index`` ignored.
        boundary: True on boundary pixels.
        alpha: emphasis α (``flex.ube.alpha``).
        eps: ε added to σ_H (``flex.ube.eps``).
        ignore_index: label of ignored pixels.

    Returns:
        float32 weights without gradient.

    Shape:
        - logits: :math:`(B, C, H, W)`; target, boundary and output: :math:`(B, H, W)`.

    Example:
        >>> logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 0.0]]]])
        >>> target = torch.tensor([[[0, 255]]])  # one valid pixel: z = 0, w = 1 + 3·sigmoid(0)
        >>> ube_pixel_weights(logits, target, torch.ones(1, 1, 2, dtype=torch.bool), alpha=3.0, eps=1e-6)
        tensor([[[2.5000, 0.0000]]])
    """
    _check(logits, target, boundary)
    return ube_weights_from_entropy(pixel_entropy(logits), target, boundary, alpha, eps, ignore_index)


def ube_weights_from_entropy(
    ent: torch.Tensor,
    target: torch.Tensor,
    boundary: torch.Tensor,
    alpha: float,
    eps: float,
    ignore_index: int = 255,
) -> torch.Tensor:
    """:func:`ube_pixel_weights` from the pixel entropy instead of the logits (shapes
    are not re-checked).

    Args:
        ent: pixel entropy in nats, e.g. :func:`entropy_from_log_probs`.
        target, boundary, alpha, eps, ignore_index: as :func:`ube_pixel_weights`.

    Returns:
        float32 weights without gradient.

    Shape:
        - ent, target, boundary and output: :math:`(B, H, W)`.

    Example:
        >>> ent = torch.tensor([[[0.0, 1.0]]])
        >>> ube_weights_from_entropy(ent, torch.tensor([[[0, 1]]]), torch.tensor([[[False, True]]]), 3.0, 1e-6)
        tensor([[[1.0000, 3.1932]]])
    """
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
    alpha: float,
    eps: float,
    ignore_index: int = 255,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel UBE loss w·CE.

    Args:
        logits, target, boundary, alpha, eps, ignore_index: as :func:`ube_pixel_weights`.

    Returns:
        (loss map, 0 on ignored pixels; mask of the non-ignored pixels). The per-image
        mean loss is ``loss_map.sum((1, 2)) / valid.sum((1, 2)).clamp(min=1)``.

    Shape:
        - logits: :math:`(B, C, H, W)`; target, boundary, loss map, mask: :math:`(B, H, W)`.

    Example:
        >>> logits = torch.zeros(1, 2, 1, 2)
        >>> loss_map, valid = ube_pixel_loss(logits, torch.tensor([[[0, 255]]]), torch.zeros(1, 1, 2, dtype=torch.bool), 3.0, 1e-6)
        >>> loss_map, valid
        (tensor([[[0.6931, 0.0000]]]), tensor([[[ True, False]]]))
    """
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
    """L_UBE = Σ w·CE / N over the batch's N non-ignored pixels.

    Args:
        logits: class scores at the label resolution.
        target: int64 class ids, ``ignore_index`` ignored.
        boundary: True on boundary pixels (FlexSeg: the thickest band of :func:`~flexseg.flex.boundaries.boundary_bands`).
        alpha: emphasis α (paper: 3).
        eps: ε added to σ_H.
        ignore_index: label of ignored pixels.

    Returns:
        the scalar loss; 0 (finite, attached to the graph) for an all-ignored batch.

    Shape:
        - logits: :math:`(B, C, H, W)`; target, boundary: :math:`(B, H, W)`; output: :math:`()`.

    Example:
        >>> logits, target = torch.zeros(1, 3, 2, 2), torch.tensor([[[0, 1], [2, 255]]])
        >>> no_boundary = torch.zeros(1, 2, 2, dtype=torch.bool)
        >>> bool(torch.isclose(ube_loss(logits, target, no_boundary), F.cross_entropy(logits, target, ignore_index=255)))
        True
        >>> round(ube_loss(logits, target, ~no_boundary).item(), 4)  # equal entropies: w = 1 + 3·sigmoid(0)
        2.7465
    """
    loss_map, valid = ube_pixel_loss(logits, target, boundary, alpha, eps, ignore_index)
    return loss_map.sum() / valid.sum().clamp_min(1).to(loss_map.dtype)
