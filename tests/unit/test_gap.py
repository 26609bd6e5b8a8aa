"""GAP: loss vs a per-sample reference, prototype bank, sampling and projection head."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from flexseg.flex.gap import (
    ProjectionHead,
    PrototypeBank,
    downsample_labels,
    gap_loss,
    sample_boundary_indices,
    sample_boundary_pixels,
    weighted_info_nce,
)

IGN = 255


def unit(*shape, gen):
    return F.normalize(torch.randn(*shape, generator=gen), dim=-1)


def ref_gap(f, c, g, P, w, tau) -> float:
    """Explicit loops: −1/N Σ_i w[c_i,g_i] log(exp(s_i,(c_i,g_i)) / Σ_j exp(s_ij)), s = ⟨f,p⟩/τ."""
    C, G, D = P.shape
    total = 0.0
    for i in range(f.shape[0]):
        s = {(cc, gg): sum(float(f[i, d]) * float(P[cc, gg, d]) for d in range(D)) / tau
             for cc in range(C) for gg in range(G)}
        m = max(s.values())
        lse = m + math.log(sum(math.exp(v - m) for v in s.values()))
        ci, gi = int(c[i]), int(g[i])
        total += -float(w[ci, gi]) * (s[(ci, gi)] - lse)
    return total / f.shape[0]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_loss_matches_reference(seed, tau):
    gen = torch.Generator().manual_seed(seed)
    N, C, G, D = 11, 4, 3, 6
    f = unit(N, D, gen=gen)
    c = torch.randint(0, C, (N,), generator=gen)
    g = torch.randint(0, G, (N,), generator=gen)
    P = unit(C, G, D, gen=gen)
    w = 1 + 4 * torch.rand(C, G, generator=gen)
    got = gap_loss(f, c, g, P, w, tau=tau)
    assert got.ndim == 0
    assert got.item() == pytest.approx(ref_gap(f, c, g, P, w, tau), rel=1e-5)


def test_empty_is_zero_finite_and_in_graph():
    f = torch.zeros(0, 8, requires_grad=True)
    e = torch.zeros(0, dtype=torch.long)
    loss = gap_loss(f, e, e, F.normalize(torch.randn(3, 3, 8), dim=-1), torch.ones(3, 3))
    assert torch.isfinite(loss) and loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert f.grad is not None and f.grad.shape == (0, 8)


def test_gradient_flows_to_features_only():
    gen = torch.Generator().manual_seed(0)
    bank = PrototypeBank(3, 3, dim=8)
    assert not bank.prototypes.requires_grad and "prototypes" in dict(bank.named_buffers())
    assert list(bank.parameters()) == []
    raw = torch.randn(6, 8, generator=gen, requires_grad=True)
    f = F.normalize(raw, dim=1)
    c = torch.tensor([0, 1, 2, 0, 1, 2])
    g = torch.tensor([0, 0, 1, 2, 2, 1])
    loss = gap_loss(f, c, g, bank.prototypes.clone(), bank.weights())
    loss.backward()
    assert raw.grad is not None and raw.grad.abs().sum() > 0
    assert bank.prototypes.grad is None


def test_validation():
    f, c = torch.randn(4, 8), torch.zeros(4, dtype=torch.long)
    P, w = torch.randn(2, 3, 8), torch.ones(2, 3)
    with pytest.raises(ValueError):
        gap_loss(f, c[:3], c, P, w)
    with pytest.raises(ValueError):
        gap_loss(f, c, c, torch.randn(2, 3, 7), w)
    with pytest.raises(ValueError):
        gap_loss(f, c, c, P, torch.ones(3, 2))
    with pytest.raises(ValueError):
        gap_loss(f, c + 2, c, P, w)  # class out of range
    with pytest.raises(ValueError):
        gap_loss(f, c, c + 3, P, w)  # granularity out of range
    with pytest.raises(ValueError):
        gap_loss(f, c.float(), c, P, w)


# ----------------------------------------------------------------------------- bank
def test_bank_init_deterministic_unit():
    a, b = PrototypeBank(5, 3, 16), PrototypeBank(5, 3, 16)
    assert a.prototypes.shape == (5, 3, 16) and a.counts.shape == (5, 3)
    assert torch.equal(a.prototypes, b.prototypes)
    assert torch.allclose(a.prototypes.norm(dim=-1), torch.ones(5, 3))
    assert int(a.counts.sum()) == 0
    assert set(a.state_dict()) == {"prototypes", "counts"}


def ref_bank_update(P, counts, f, c, g, m):
    """Per-pair loops: mean feature, copy on first update else momentum, re-normalize."""
    P, counts = P.clone(), counts.clone()
    C, G, _ = P.shape
    for cc in range(C):
        for gg in range(G):
            sel = [i for i in range(f.shape[0]) if int(c[i]) == cc and int(g[i]) == gg]
            if not sel:
                continue
            mean = sum(f[i] for i in sel) / len(sel)
            new = mean if counts[cc, gg] == 0 else m * P[cc, gg] + (1 - m) * mean
            P[cc, gg] = new / new.norm()
            counts[cc, gg] += 1
    return P, counts


def test_bank_update_matches_reference():
    gen = torch.Generator().manual_seed(1)
    bank = PrototypeBank(3, 2, dim=5, momentum=0.9)
    P, n = bank.prototypes.clone(), bank.counts.clone()
    for _ in range(4):
        N = 7
        f = unit(N, 5, gen=gen)
        c = torch.randint(0, 3, (N,), generator=gen)
        g = torch.randint(0, 2, (N,), generator=gen)
        P, n = ref_bank_update(P, n, f, c, g, 0.9)
        bank.update(f, c, g)
        assert torch.allclose(bank.prototypes, P, atol=1e-6)
        assert torch.equal(bank.counts, n)
    assert torch.allclose(bank.prototypes.norm(dim=-1), torch.ones(3, 2))


def test_bank_first_update_copies_and_empty_update_is_noop():
    bank = PrototypeBank(2, 3, dim=4)
    before = bank.prototypes.clone()
    f = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0]])
    bank.update(f, torch.tensor([1, 1]), torch.tensor([2, 2]))
    assert torch.allclose(bank.prototypes[1, 2], F.normalize(torch.tensor([1.0, 1, 0, 0]), dim=0))
    mask = torch.ones(2, 3, dtype=torch.bool)
    mask[1, 2] = False
    assert torch.equal(bank.prototypes[mask], before[mask])
    assert bank.counts.tolist() == [[0, 0, 0], [0, 0, 1]]
    snapshot = bank.prototypes.clone()
    bank.update(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert torch.equal(bank.prototypes, snapshot) and bank.counts.tolist() == [[0, 0, 0], [0, 0, 1]]


def test_bank_update_has_no_grad_and_is_in_place():
    bank = PrototypeBank(2, 1, dim=3)
    ptr = bank.prototypes.data_ptr()
    f = torch.randn(4, 3, requires_grad=True)
    bank.update(f, torch.tensor([0, 0, 1, 1]), torch.zeros(4, dtype=torch.long))
    assert not bank.prototypes.requires_grad and bank.prototypes.data_ptr() == ptr


def test_weights():
    bank = PrototypeBank(2, 3, dim=4, max_weight=5.0)
    assert torch.equal(bank.weights(), torch.ones(2, 3))  # nothing seen yet
    bank.counts.copy_(torch.tensor([[4, 4, 4], [4, 4, 4]]))
    assert torch.equal(bank.weights(), torch.ones(2, 3))  # equal counts
    bank.counts.copy_(torch.tensor([[10, 5, 2], [1, 0, 10]]))
    w = bank.weights()
    assert torch.allclose(w, torch.tensor([[1.0, 2.0, 5.0], [5.0, 5.0, 1.0]]))
    bank.counts.copy_(torch.tensor([[10, 8, 4], [3, 2, 10]]))
    w = bank.weights().flatten()
    n = bank.counts.flatten()
    for i in range(6):  # lower count → higher weight; bounded
        for j in range(6):
            if n[i] < n[j]:
                assert w[i] >= w[j]
    assert bool((w >= 1).all() and (w <= 5).all())


# ----------------------------------------------------------------------------- sampling
def test_downsample_labels_nearest():
    lab = torch.arange(64).reshape(1, 8, 8)
    out = downsample_labels(lab, (2, 4))
    assert out.dtype == torch.long and out.shape == (1, 2, 4)
    assert out.tolist() == [[[0, 2, 4, 6], [32, 34, 36, 38]]]
    assert downsample_labels(torch.full((2, 8, 8), IGN), 4).unique().tolist() == [IGN]
    assert torch.equal(downsample_labels(lab, 8), lab)
    with pytest.raises(ValueError):
        downsample_labels(lab.float(), 4)


def test_sample_all_when_few():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 3, 4, 5, generator=gen)
    lab = torch.randint(0, 4, (2, 4, 5), generator=gen)
    lab[0, 0, 0] = IGN
    gran = torch.randint(-1, 3, (2, 4, 5), generator=gen)
    gran[0, 0, 0] = 1
    f, c, g = sample_boundary_pixels(feats, lab, gran, num_classes=4, max_pixels=1000)
    ref = [(b, y, x) for b in range(2) for y in range(4) for x in range(5) if gran[b, y, x] >= 0 and lab[b, y, x] != IGN]
    assert f.shape == (len(ref), 3)
    for i, (b, y, x) in enumerate(ref):
        assert torch.equal(f[i], feats[b, :, y, x]) and c[i] == lab[b, y, x] and g[i] == gran[b, y, x]


def test_sample_none():
    feats = torch.randn(1, 3, 4, 4, requires_grad=True)
    f, c, g = sample_boundary_pixels(feats, torch.zeros(1, 4, 4, dtype=torch.long),
                                     torch.full((1, 4, 4), -1), num_classes=2, max_pixels=16)
    assert f.shape == (0, 3) and c.shape == (0,) and g.shape == (0,)


def test_sample_class_balanced_and_deterministic():
    # class 0: 200 pixels, class 1: 30, class 2: 10 ; budget 60 → quota 20 each:
    # 20 of class 0, 20 of class 1, all 10 of class 2, 10 leftover from classes 0/1
    B, h, w = 1, 16, 15
    lab = torch.zeros(B, h, w, dtype=torch.long)
    flat = lab.view(-1)
    flat[200:230] = 1
    flat[230:240] = 2
    gran = torch.zeros(B, h, w, dtype=torch.long)
    feats = torch.arange(B * h * w, dtype=torch.float32).reshape(1, 1, h, w)
    f, c, g = sample_boundary_pixels(feats, lab, gran, 3, max_pixels=60, generator=torch.Generator().manual_seed(0))
    assert f.shape == (60, 1)
    counts = torch.bincount(c, minlength=3).tolist()
    assert counts[2] == 10 and counts[0] >= 20 and counts[1] >= 20 and sum(counts) == 60
    assert len(set(f[:, 0].tolist())) == 60  # no duplicates
    assert all(int(lab.view(-1)[int(v)]) == int(ci) for v, ci in zip(f[:, 0], c))
    f2, c2, _ = sample_boundary_pixels(feats, lab, gran, 3, max_pixels=60, generator=torch.Generator().manual_seed(0))
    assert torch.equal(f, f2) and torch.equal(c, c2)
    f3, _, _ = sample_boundary_pixels(feats, lab, gran, 3, max_pixels=60, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(f, f3)


def test_sample_balance_statistics():
    # many draws: the leftover after quotas is spread uniformly over the remaining pixels
    lab = torch.zeros(1, 10, 10, dtype=torch.long)
    lab.view(-1)[80:] = 1  # class 0: 80, class 1: 20 ; budget 50 → 25/20 + 5 leftover from class 0
    gran = torch.zeros(1, 10, 10, dtype=torch.long)
    feats = torch.arange(100, dtype=torch.float32).reshape(1, 1, 10, 10)
    gen = torch.Generator().manual_seed(0)
    hits = torch.zeros(100)
    for _ in range(200):
        f, c, _ = sample_boundary_pixels(feats, lab, gran, 2, max_pixels=50, generator=gen)
        assert torch.bincount(c, minlength=2).tolist() == [30, 20]
        hits[f[:, 0].long()] += 1
    assert bool((hits[80:] == 200).all())
    # each class-0 pixel is taken with probability 30/80
    assert abs(hits[:80].mean().item() / 200 - 30 / 80) < 1e-6
    assert hits[:80].min() > 0.2 * 200 and hits[:80].max() < 0.55 * 200


def test_projection_head():
    head = ProjectionHead(8, 6)
    x = torch.randn(2, 8, 3, 4, requires_grad=True)
    y = head(x)
    assert y.shape == (2, 6, 3, 4)
    assert torch.allclose(y.norm(dim=1), torch.ones(2, 3, 4), atol=1e-5)
    y.sum().backward()
    assert x.grad is not None


def ref_balanced_choice(lab, gran, num_classes, k, keys) -> list[int]:
    """Loops: per class the ⌊k/K⌋ candidates with the smallest quota keys, then the
    left-over budget from the remaining candidates with the smallest refill keys."""
    lab, gran = lab.reshape(-1).tolist(), gran.reshape(-1).tolist()
    cand = [i for i in range(len(lab)) if gran[i] >= 0 and 0 <= lab[i] < num_classes]
    classes = sorted({lab[i] for i in cand})
    if not classes:
        return []
    quota = k // len(classes)
    chosen = set()
    for c in classes:
        members = sorted((i for i in cand if lab[i] == c), key=lambda i: float(keys[0, i]))
        chosen.update(members[:quota])
    rest = sorted((i for i in cand if i not in chosen), key=lambda i: float(keys[1, i]))
    chosen.update(rest[: max(k - len(chosen), 0)])
    return sorted(chosen)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [0, 1, 7, 40, 500])
def test_sample_boundary_indices_match_loop_reference(seed, k):
    gen = torch.Generator().manual_seed(seed)
    B, h, w = 2, 9, 13
    lab = torch.randint(0, 5, (B, h, w), generator=gen)
    lab[torch.rand(B, h, w, generator=gen) < 0.1] = IGN
    lab[0, :3] = 4  # an unbalanced class
    gran = torch.randint(-1, 3, (B, h, w), generator=gen)
    state = gen.get_state()
    index, valid = sample_boundary_indices(lab, gran, 5, max_pixels=k, generator=gen)
    keys = torch.rand(2, B * h * w, generator=torch.Generator().set_state(state))  # the same draws
    ref = ref_balanced_choice(lab, gran, 5, k, keys)
    K = min(k, B * h * w)
    assert index.shape == valid.shape == (K,) and index.dtype == torch.long and valid.dtype == torch.bool
    n = int(valid.sum())
    assert bool(valid[:n].all()) and not bool(valid[n:].any())  # valid rows first
    assert index[valid].tolist() == ref  # the same pixels, raster order
    assert sorted(index.tolist()) == sorted(set(index.tolist()))  # padding repeats no pixel
    assert bool(((index >= 0) & (index < B * h * w)).all())


def test_sample_boundary_indices_fixed_draws_and_no_candidates():
    lab = torch.zeros(1, 4, 4, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    index, valid = sample_boundary_indices(lab, torch.full((1, 4, 4), -1), 2, max_pixels=8, generator=gen)
    assert index.shape == (8,) and not bool(valid.any())
    # two keys per pixel are drawn whatever the labels: the generator state moves the same way
    ref = torch.Generator().manual_seed(0)
    torch.rand(2, 16, generator=ref)
    assert torch.equal(gen.get_state(), ref.get_state())
    with pytest.raises(ValueError):
        sample_boundary_indices(lab, torch.zeros(1, 4, 5, dtype=torch.long), 2, max_pixels=8)
    with pytest.raises(ValueError):
        sample_boundary_indices(lab, torch.zeros(1, 4, 4), 2, max_pixels=8)


@pytest.mark.parametrize("channels_last", [False, True])
def test_embed_pixels_equals_forward_at_those_pixels(channels_last):
    torch.manual_seed(0)
    head = ProjectionHead(8, 16).train()
    x = torch.randn(3, 8, 5, 7)
    if channels_last:
        head, x = head.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    index = torch.tensor([0, 3, 34, 35, 70, 104, 12, 12])
    full = head(x).permute(0, 2, 3, 1).reshape(-1, 16)[index]
    got = head.embed_pixels(x, index)
    torch.testing.assert_close(got, full, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.norm(dim=1), torch.ones(len(index)))
    # the same gradients as forward() gathered at those pixels, for the input and the head
    weights = torch.randn(len(index), 16, generator=torch.Generator().manual_seed(1))
    grads = []
    for fn in (lambda t: head(t).permute(0, 2, 3, 1).reshape(-1, 16)[index], lambda t: head.embed_pixels(t, index)):
        head.zero_grad()
        xg = x.clone().requires_grad_()
        (fn(xg) * weights).sum().backward()
        grads.append([xg.grad] + [p.grad.clone() for p in head.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_weighted_info_nce_with_mask_equals_gap_loss_on_valid_rows():
    gen = torch.Generator().manual_seed(3)
    C, G, D, N = 4, 3, 8, 30
    f = unit(N, D, gen=gen).requires_grad_()
    c, g = torch.randint(0, C, (N,), generator=gen), torch.randint(0, G, (N,), generator=gen)
    P, w = unit(C, G, D, gen=gen), 1 + 4 * torch.rand(C, G, generator=gen)
    valid = torch.rand(N, generator=gen) < 0.6
    pair = torch.where(valid, c * G + g, 0)
    got = weighted_info_nce(f, pair, P, w, valid, tau=0.1)
    ref = gap_loss(f[valid], c[valid], g[valid], P, w, tau=0.1)
    torch.testing.assert_close(got, ref)
    got.backward()
    assert torch.count_nonzero(f.grad[~valid]) == 0  # padding rows get no gradient
    none = weighted_info_nce(f, pair, P, w, torch.zeros(N, dtype=torch.bool), tau=0.1)
    assert none.item() == 0.0 and torch.isfinite(none)
    empty = weighted_info_nce(f[:0], pair[:0], P, w, tau=0.1)  # no rows, no mask: 0, not NaN
    assert empty.item() == 0.0


def test_update_pairs_with_mask_equals_update_on_valid_rows():
    gen = torch.Generator().manual_seed(4)
    C, G, D, N = 3, 2, 5, 40
    f = unit(N, D, gen=gen)
    c, g = torch.randint(0, C, (N,), generator=gen), torch.randint(0, G, (N,), generator=gen)
    valid = torch.rand(N, generator=gen) < 0.5
    a, b = PrototypeBank(C, G, D, momentum=0.9), PrototypeBank(C, G, D, momentum=0.9)
    for _ in range(2):
        a.update(f[valid], c[valid], g[valid])
        b.update_pairs(f, torch.where(valid, c * G + g, 0), valid)
    assert torch.equal(a.counts, b.counts)
    torch.testing.assert_close(a.prototypes, b.prototypes, rtol=0, atol=1e-7)


def test_sample_boundary_indices_equal_keys_break_by_position(monkeypatch):
    """float32 keys tie now and then; ties rank by position (stable sorts), so a CPU and a
    GPU pick the same pixels. With every key equal the choice is the raster-order one."""
    import flexseg.flex.gap as gap

    monkeypatch.setattr(gap, "_uniform_keys", lambda n, generator, device: torch.zeros(2, n, device=device))
    gen = torch.Generator().manual_seed(5)
    lab = torch.randint(0, 3, (2, 7, 9), generator=gen)
    gran = torch.randint(-1, 3, (2, 7, 9), generator=gen)
    for k in (5, 17, 40):
        index, valid = sample_boundary_indices(lab, gran, 3, max_pixels=k)
        assert index[valid].tolist() == ref_balanced_choice(lab, gran, 3, k, torch.zeros(2, lab.numel()))
