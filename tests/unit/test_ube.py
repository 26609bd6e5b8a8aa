"""UBE loss against a slow per-pixel reference, CE equivalences and gradient checks."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from flexseg.flex.ube import ube_loss, ube_pixel_loss, ube_pixel_weights

IGN = 255


def ref_ube(logits, target, boundary, alpha=3.0, eps=1e-6, ignore_index=IGN) -> float:
    """Explicit loops in float64: per-image entropy stats, per-pixel weights and CE."""
    B, C, H, W = logits.shape
    lg = logits.detach().double()
    total, n_valid = 0.0, 0
    for b in range(B):
        ents, ces, bnd = [], [], []
        for y in range(H):
            for x in range(W):
                t = int(target[b, y, x])
                if t == ignore_index:
                    continue
                z = [float(lg[b, c, y, x]) for c in range(C)]
                m = max(z)
                lse = m + math.log(sum(math.exp(v - m) for v in z))
                p = [math.exp(v - lse) for v in z]
                ents.append(-sum(pc * math.log(pc) for pc in p if pc > 0))
                ces.append(lse - z[t])
                bnd.append(bool(boundary[b, y, x]))
        if not ents:
            continue
        mu = sum(ents) / len(ents)
        sigma = math.sqrt(sum((e - mu) ** 2 for e in ents) / len(ents))
        for e, ce, on_b in zip(ents, ces, bnd):
            w = 1.0 + alpha / (1.0 + math.exp(-(e - mu) / (sigma + eps))) if on_b else 1.0
            total += w * ce
            n_valid += 1
    return total / max(n_valid, 1)


def make(seed, B=2, C=5, H=6, W=7, p_ignore=0.2, p_boundary=0.4, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(B, C, H, W, generator=g) * scale).requires_grad_(True)
    target = torch.randint(0, C, (B, H, W), generator=g)
    target[torch.rand(B, H, W, generator=g) < p_ignore] = IGN
    boundary = torch.rand(B, H, W, generator=g) < p_boundary
    return logits, target, boundary


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.0])
def test_matches_reference(seed, alpha):
    logits, target, boundary = make(seed)
    got = ube_loss(logits, target, boundary, alpha=alpha)
    assert got.ndim == 0
    assert got.item() == pytest.approx(ref_ube(logits, target, boundary, alpha), rel=1e-5, abs=1e-6)


def test_one_image_all_ignored_and_stats_per_image():
    logits, target, boundary = make(7, B=3)
    target[1] = IGN  # must not disturb the others' statistics
    assert ube_loss(logits, target, boundary).item() == pytest.approx(ref_ube(logits, target, boundary), rel=1e-5)


def test_alpha_zero_and_empty_boundary_equal_ce():
    logits, target, boundary = make(1)
    ce = F.cross_entropy(logits, target, ignore_index=IGN)
    assert torch.allclose(ube_loss(logits, target, boundary, alpha=0.0), ce, rtol=1e-6, atol=1e-7)
    none = torch.zeros_like(boundary)
    assert torch.allclose(ube_loss(logits, target, none), ce, rtol=1e-6, atol=1e-7)
    # boundary only on ignored pixels == empty boundary
    only_ignored = target == IGN
    assert torch.allclose(ube_loss(logits, target, only_ignored), ce, rtol=1e-6, atol=1e-7)


def test_boundary_raises_loss_and_weight_range():
    logits, target, boundary = make(2)
    ce = F.cross_entropy(logits, target, ignore_index=IGN)
    assert ube_loss(logits, target, boundary, alpha=3.0) > ce
    w = ube_pixel_weights(logits, target, boundary, alpha=3.0, eps=1e-6)
    valid = target != IGN
    assert not w.requires_grad
    assert bool((w[~valid] == 0).all())
    assert bool((w[valid & ~boundary] == 1).all())
    assert bool((w[valid & boundary] > 1).all() and (w[valid & boundary] < 4).all())


def test_all_ignored_is_zero_with_graph():
    logits, target, boundary = make(3)
    target[:] = IGN
    loss = ube_loss(logits, target, boundary)
    assert torch.isfinite(loss) and loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and bool((logits.grad == 0).all())


def test_single_class_constant_entropy_is_finite():
    # σ_H = 0 on an image with constant logits: z = 0/(0+ε) → weights 1 + α/2
    logits = torch.zeros(1, 3, 4, 4, requires_grad=True)
    target = torch.ones(1, 4, 4, dtype=torch.long)
    boundary = torch.ones(1, 4, 4, dtype=torch.bool)
    w = ube_pixel_weights(logits, target, boundary, alpha=3.0, eps=1e-6)
    assert torch.allclose(w, torch.full_like(w, 2.5))
    assert ube_loss(logits, target, boundary).item() == pytest.approx(2.5 * math.log(3), rel=1e-6)


def test_weights_carry_no_gradient():
    logits, target, boundary = make(4)
    loss = ube_loss(logits, target, boundary, alpha=3.0)
    (grad,) = torch.autograd.grad(loss, logits)
    # the same loss with constant, detached weights
    w = ube_pixel_weights(logits, target, boundary, alpha=3.0, eps=1e-6).detach().clone()
    logits2 = logits.detach().clone().requires_grad_(True)
    ce = F.cross_entropy(logits2, target, ignore_index=IGN, reduction="none")
    ref = (w * ce).sum() / (target != IGN).sum()
    (grad_ref,) = torch.autograd.grad(ref, logits2)
    assert torch.allclose(loss, ref, rtol=1e-6)
    assert torch.allclose(grad, grad_ref, rtol=1e-5, atol=1e-8)


def test_pixel_loss_per_image_means():
    logits, target, boundary = make(5, B=3)
    target[2] = IGN
    loss_map, valid = ube_pixel_loss(logits, target, boundary, alpha=3.0, eps=1e-6)
    assert loss_map.shape == target.shape and valid.dtype == torch.bool
    assert bool((loss_map[~valid] == 0).all())
    per_image = loss_map.sum((1, 2)) / valid.sum((1, 2)).clamp(min=1)
    assert torch.isfinite(per_image).all() and per_image[2].item() == 0.0
    assert torch.allclose(loss_map.sum() / valid.sum(), ube_loss(logits, target, boundary))


@pytest.mark.parametrize(
    "shapes",
    [
        ((2, 3, 4, 4), (2, 4, 5), (2, 4, 5)),  # spatial mismatch
        ((2, 3, 4, 4), (1, 4, 4), (1, 4, 4)),  # batch mismatch
        ((3, 4, 4), (3, 4, 4), (3, 4, 4)),  # logits ndim
        ((2, 3, 4, 4), (2, 4, 4), (2, 4, 5)),  # boundary shape
    ],
)
def test_validation_shapes(shapes):
    ls, ts, bs = shapes
    with pytest.raises(ValueError):
        ube_loss(torch.randn(ls), torch.zeros(ts, dtype=torch.long), torch.zeros(bs, dtype=torch.bool))


def test_validation_dtypes():
    logits = torch.randn(1, 3, 4, 4)
    with pytest.raises(ValueError):
        ube_loss(logits, torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError):
        ube_loss(logits, torch.zeros(1, 4, 4, dtype=torch.long), torch.zeros(1, 4, 4))
