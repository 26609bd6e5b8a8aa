"""UBE tests written against the mutants that survived ``make mutation`` (docs/testing.md).

Each test pins a behaviour the other UBE tests left open: an image with a single valid
pixel, an ``ignore_index`` other than 255 passed through ``ube_loss``, the documented
defaults of ``ube_loss`` (α = 3, ε = 1e-6, ignore 255) and the input checks' error messages. Expected
values come from float64 loops written here from docs/design.md §1/§3, never from the
code under test.
"""
from __future__ import annotations

import math
import re

import pytest
import torch

from flexseg.flex.ube import pixel_entropy, ube_loss, ube_pixel_loss, ube_pixel_weights, ube_weights_from_entropy


def _softmax_stats(z: list[float], t: int) -> tuple[float, float]:
    """(entropy, cross-entropy of class t) of one pixel's logits z, in float64."""
    m = max(z)
    lse = m + math.log(sum(math.exp(v - m) for v in z))
    p = [math.exp(v - lse) for v in z]
    return -sum(q * math.log(q) for q in p if q > 0), lse - z[t]


def ref_weights_and_loss(logits, target, boundary, alpha=3.0, eps=1e-6, ignore_index=255):
    """Per-pixel UBE weights [B,H,W] (0 on ignored pixels) and L_UBE, by loops."""
    B, C, H, W = logits.shape
    weights = torch.zeros(B, H, W, dtype=torch.float64)
    total, n_valid = 0.0, 0
    for b in range(B):
        pix = []
        for y in range(H):
            for x in range(W):
                t = int(target[b, y, x])
                if t == ignore_index:
                    continue
                ent, ce = _softmax_stats([float(logits[b, c, y, x]) for c in range(C)], t)
                pix.append((y, x, ent, ce, bool(boundary[b, y, x])))
        if not pix:
            continue
        mu = sum(p[2] for p in pix) / len(pix)
        sigma = math.sqrt(sum((p[2] - mu) ** 2 for p in pix) / len(pix))
        for y, x, ent, ce, on_b in pix:
            w = 1.0 + alpha / (1.0 + math.exp(-(ent - mu) / (sigma + eps))) if on_b else 1.0
            weights[b, y, x] = w
            total += w * ce
            n_valid += 1
    return weights, total / max(n_valid, 1)


def _inputs(seed: int, B=2, C=5, H=4, W=5, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, C, H, W, generator=g) * scale
    target = torch.randint(0, C, (B, H, W), generator=g)
    boundary = torch.rand(B, H, W, generator=g) < 0.5
    return logits, target, boundary


def test_a_single_valid_pixel_is_its_own_mean_and_the_batch_mean_divides_by_one():
    # one valid boundary pixel: μ_H = H, σ_H = 0 → z = 0 → w = 1 + α/2; N = 1
    logits = torch.tensor([0.3, -1.2, 2.0]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2).clone()
    target = torch.full((1, 2, 2), 255, dtype=torch.long)
    target[0, 1, 0] = 2
    boundary = torch.ones(1, 2, 2, dtype=torch.bool)
    _, ce = _softmax_stats([0.3, -1.2, 2.0], 2)
    assert ube_loss(logits, target, boundary, alpha=3.0).item() == pytest.approx(2.5 * ce, rel=1e-6)
    w = ube_pixel_weights(logits, target, boundary, alpha=3.0, eps=1e-6)
    assert w.tolist() == [[[0.0, 0.0], [2.5, 0.0]]]


def test_a_single_valid_pixel_next_to_a_full_image():
    # per-image statistics: the one-pixel image does not borrow the other image's count
    logits, target, boundary = _inputs(3, B=2, H=3, W=3)
    target[1] = 255
    target[1, 2, 1] = 0
    boundary[1, 2, 1] = True
    w_ref, loss_ref = ref_weights_and_loss(logits, target, boundary)
    assert float(w_ref[1, 2, 1]) == pytest.approx(2.5)
    assert torch.allclose(ube_pixel_weights(logits, target, boundary, alpha=3.0, eps=1e-6).double(), w_ref, rtol=1e-5, atol=1e-6)
    assert ube_loss(logits, target, boundary).item() == pytest.approx(loss_ref, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_ignore_index_other_than_255_reaches_weights_and_loss(seed):
    C, ignore = 5, 4  # label 4 = ignored; the logits still have a class-4 channel
    logits, target, boundary = _inputs(seed, C=C)
    target[torch.rand(target.shape, generator=torch.Generator().manual_seed(9 + seed)) < 0.3] = ignore
    assert int((target == ignore).sum()) > 0
    w_ref, loss_ref = ref_weights_and_loss(logits, target, boundary, ignore_index=ignore)
    w = ube_pixel_weights(logits, target, boundary, alpha=3.0, eps=1e-6, ignore_index=ignore)
    assert torch.allclose(w.double(), w_ref, rtol=1e-5, atol=1e-6)
    assert ube_loss(logits, target, boundary, ignore_index=ignore).item() == pytest.approx(loss_ref, rel=1e-5)
    # and the loss really differs from treating label 4 as a class
    _, loss_as_class = ref_weights_and_loss(logits, target, boundary, ignore_index=255)
    assert loss_ref != pytest.approx(loss_as_class, rel=1e-3)


def test_documented_defaults_alpha_3_eps_1e6_ignore_255():
    logits, target, boundary = _inputs(5, B=1, H=5, W=5, scale=1.0)
    target[0, 0, :2] = 255
    w_ref, loss_ref = ref_weights_and_loss(logits, target, boundary, alpha=3.0, eps=1e-6, ignore_index=255)
    assert ube_loss(logits, target, boundary).item() == pytest.approx(loss_ref, rel=1e-5)
    # α and ε are visible in these weights: another value gives other numbers
    w_other, _ = ref_weights_and_loss(logits, target, boundary, alpha=4.0, eps=1.000001)
    assert not torch.allclose(w_other, w_ref, rtol=1e-3)


def test_non_tensor_inputs_are_value_errors():
    target = torch.zeros(1, 2, 2, dtype=torch.long)
    boundary = torch.zeros(1, 2, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match="logits must be a float tensor"):
        ube_loss([[[[0.0, 1.0]]]], target, boundary)
    with pytest.raises(ValueError, match="target must be a tensor"):
        ube_loss(torch.zeros(1, 3, 2, 2), [[[0, 1], [1, 0]]], boundary)
    with pytest.raises(ValueError, match="boundary must be a BoolTensor"):
        ube_loss(torch.zeros(1, 3, 2, 2), target, [[[True, False], [False, True]]])


@pytest.mark.parametrize(
    ("logits", "target", "boundary", "message"),
    [
        (torch.zeros(3, 2, 2), torch.zeros(3, 2, 2, dtype=torch.long), None, "logits must be a float tensor"),
        (torch.zeros(1, 3, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long), None, "logits must be a float tensor"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(2, 2, dtype=torch.long), None, "target must be a tensor"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2), None, "target must be an integer tensor"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.bool), None, "target must be an integer tensor"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 3, dtype=torch.long), None, "does not match logits"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2), "boundary must be a BoolTensor"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 3, dtype=torch.bool),
         "boundary shape"),
    ],
)
def test_each_check_names_the_bad_input(logits, target, boundary, message):
    if boundary is None:
        boundary = torch.zeros(target.shape[-3:] if target.ndim >= 3 else (1, 2, 2), dtype=torch.bool)
    with pytest.raises(ValueError, match=message):
        ube_loss(logits, target, boundary)


# ---- second pass (issue 29): the messages word for word, and the helpers' ignore_index default ----

def _exact(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for exactly this message (no prefix, no suffix)."""
    return "^" + re.escape(message) + "$"


@pytest.mark.parametrize(
    ("logits", "target", "boundary", "message"),
    [
        ([[[[0.0, 1.0]]]], torch.zeros(1, 2, 2, dtype=torch.long), None, "logits must be a float tensor [B,C,H,W], got list"),
        (None, torch.zeros(1, 2, 2, dtype=torch.long), None, "logits must be a float tensor [B,C,H,W], got NoneType"),
        (torch.zeros(3, 2, 2), torch.zeros(3, 2, 2, dtype=torch.long), None, "logits must be a float tensor [B,C,H,W], got (3, 2, 2)"),
        (torch.zeros(1, 3, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long), None,
         "logits must be a float tensor [B,C,H,W], got (1, 3, 2, 2)"),
        (torch.zeros(1, 3, 2, 2), [[[0, 1], [1, 0]]], None, "target must be a tensor [B,H,W], got list"),
        (torch.zeros(1, 3, 2, 2), None, None, "target must be a tensor [B,H,W], got NoneType"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(2, 2, dtype=torch.long), None, "target must be a tensor [B,H,W], got (2, 2)"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2), None, "target must be an integer tensor (int64), got dtype torch.float32"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.bool), None,
         "target must be an integer tensor (int64), got dtype torch.bool"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 3, dtype=torch.long), None,
         "target shape (1, 2, 3) does not match logits (1, 3, 2, 2) ([B,H,W] expected)"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2), "boundary must be a BoolTensor [B,H,W]"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), [[[True, False], [False, True]]],
         "boundary must be a BoolTensor [B,H,W]"),
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 3, dtype=torch.bool),
         "boundary shape (1, 2, 3) does not match target (1, 2, 2)"),
    ],
)
def test_each_message_word_for_word(logits, target, boundary, message):
    if boundary is None:
        boundary = torch.zeros(1, 2, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match=_exact(message)):
        ube_pixel_weights(logits, target, boundary, 3.0, 1e-6)
    with pytest.raises(ValueError, match=_exact(message)):
        ube_loss(logits, target, boundary)


def test_the_helpers_ignore_255_by_default():
    # ube_pixel_weights / ube_weights_from_entropy / ube_pixel_loss called without ignore_index
    logits, target, boundary = _inputs(11, B=2, C=4, H=4, W=4)
    target[0, 0, :3] = 255
    target[1, 2:, 1] = 255
    w_ref, loss_ref = ref_weights_and_loss(logits, target, boundary, alpha=2.0, eps=1e-3)
    w = ube_pixel_weights(logits, target, boundary, 2.0, 1e-3)
    assert torch.allclose(w.double(), w_ref, rtol=1e-5, atol=1e-6)
    w2 = ube_weights_from_entropy(pixel_entropy(logits), target, boundary, 2.0, 1e-3)
    assert torch.allclose(w2.double(), w_ref, rtol=1e-5, atol=1e-6)
    loss_map, valid = ube_pixel_loss(logits, target, boundary, 2.0, 1e-3)
    assert torch.equal(valid, target != 255)
    assert loss_map.sum().item() / int(valid.sum()) == pytest.approx(loss_ref, rel=1e-5)
    assert (loss_map[~valid] == 0).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_the_loss_map_keeps_the_logits_dtype(dtype):
    # like F.cross_entropy: the float32 weights are cast to the cross-entropy's dtype, not the other way round
    logits, target, boundary = _inputs(12, B=1, C=3, H=3, W=3)
    loss_map, _ = ube_pixel_loss(logits.to(dtype), target, boundary, 3.0, 1e-6)
    assert loss_map.dtype == dtype
    assert ube_loss(logits.to(dtype), target, boundary).dtype == dtype
