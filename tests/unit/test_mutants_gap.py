"""GAP tests written against the mutants that survived ``make mutation`` (docs/testing.md).

They pin what the other GAP tests left open: ``gap_loss`` on a single pixel, τ = 0, every
input check (by its message), the ``PrototypeBank`` defaults of docs/design.md §3 and the
edges of its argument ranges (one class, momentum 0 and 1, max_weight 1), the class quota
of the boundary-pixel choice when only some classes are present, feature maps one pixel
high, and the parameters of the criterion's projection head. Expected values are computed
here by hand or by loops, never by the code under test.
"""
from __future__ import annotations

import math
import re

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
)
from tests.integration.test_configs import compose_cfg


def criterion(overrides: list[str], feature_dim: int):
    """``flexseg.build.build_criterion`` of the composed config, for decoder features of
    ``feature_dim`` channels (before and after build_criterion takes feature_dim itself)."""
    from flexseg.build import build_criterion

    cfg = compose_cfg([*overrides, f"model.embed_dim={feature_dim}"])
    return build_criterion(cfg, feature_dim=feature_dim)


# ----------------------------------------------------------------------------- gap_loss
def test_gap_loss_of_a_single_pixel_by_hand():
    f = torch.tensor([[0.6, 0.8]])
    protos = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [0.0, -1.0]]])  # C=2, G=2
    weights = torch.tensor([[1.0, 2.5], [1.0, 1.0]])
    tau = 0.5
    dots = [0.6, 0.8, -0.6, -0.8]  # ⟨f, p_j⟩ in the order c·G + g
    lse = math.log(sum(math.exp(d / tau) for d in dots))
    expected = -2.5 * (0.8 / tau - lse)  # pixel of pair (0, 1), weight 2.5
    got = gap_loss(f, torch.tensor([0]), torch.tensor([1]), protos, weights, tau=tau)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_gap_loss_of_two_pixels_is_their_weighted_mean():
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    protos = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # C=2, G=1
    weights = torch.tensor([[2.0], [1.0]])
    tau = 1.0
    lse = math.log(math.e + 1.0)  # both pixels: dots (1, 0) or (0, 1)
    expected = (2.0 * (lse - 1.0) + 1.0 * (lse - 1.0)) / 2
    got = gap_loss(f, torch.tensor([0, 1]), torch.tensor([0, 0]), protos, weights, tau=tau)
    assert got.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("tau", [0.0, -0.07])
def test_gap_loss_rejects_a_non_positive_tau(tau):
    f = F.normalize(torch.randn(3, 4), dim=1)
    c = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="tau must be > 0"):
        gap_loss(f, c, c, torch.randn(2, 1, 4), torch.ones(2, 1), tau=tau)


def _good():
    f = F.normalize(torch.randn(3, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    c = torch.tensor([0, 1, 1])
    return f, c, torch.tensor([0, 2, 1]), torch.randn(2, 3, 4), torch.ones(2, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": torch.randn(4)}, "features must be a float tensor"),
        ({"features": [[0.0, 1.0, 0.0, 0.0]] * 3}, "features must be a float tensor"),
        ({"features": torch.ones(3, 4, dtype=torch.long)}, "features must be a float tensor"),
        ({"classes": torch.zeros(3, 1, dtype=torch.long)}, r"classes must be a tensor \[N\] with N = 3"),
        ({"classes": [0, 1, 1]}, r"classes must be a tensor \[N\]"),
        ({"classes": torch.zeros(2, dtype=torch.long)}, r"classes must be a tensor \[N\] with N = 3"),
        ({"granularities": [0, 0, 0]}, r"granularities must be a tensor \[N\]"),
        ({"granularities": torch.zeros(3, 1, dtype=torch.long)}, r"granularities must be a tensor \[N\]"),
        ({"classes": torch.zeros(3)}, "classes must be an integer tensor"),
        ({"granularities": torch.zeros(3, dtype=torch.bool)}, "granularities must be an integer tensor"),
        ({"classes": torch.tensor([0, -1, 1])}, r"classes must lie in \[0, 2\)"),
        ({"classes": torch.tensor([0, 2, 1])}, r"classes must lie in \[0, 2\)"),
        ({"granularities": torch.tensor([0, -1, 1])}, r"granularities must lie in \[0, 3\)"),
        ({"granularities": torch.tensor([0, 3, 1])}, r"granularities must lie in \[0, 3\)"),
        ({"prototypes": torch.randn(2, 3, 5)}, "prototypes must be"),
        ({"prototypes": torch.randn(6, 4)}, "prototypes must be"),
        ({"weights": torch.ones(3, 2)}, "weights must be"),
    ],
)
def test_each_gap_loss_check_names_the_bad_input(change, message):
    f, c, g, p, w = _good()
    args = {"features": f, "classes": c, "granularities": g, "prototypes": p, "weights": w, **change}
    with pytest.raises(ValueError, match=message):
        gap_loss(args["features"], args["classes"], args["granularities"], args["prototypes"], args["weights"])


# ----------------------------------------------------------------------------- PrototypeBank
def test_bank_defaults_of_design_section_3():
    bank = PrototypeBank(4)
    assert tuple(bank.prototypes.shape) == (4, 3, 256)  # num_granularities=3, dim=256
    assert bank.prototypes.dtype == torch.float32
    assert bank.counts.dtype == torch.int64 and tuple(bank.counts.shape) == (4, 3)
    assert torch.allclose(bank.prototypes.norm(dim=-1), torch.ones(4, 3), atol=1e-6)
    # deterministic initial prototypes: normalized N(0, 1) draws of a generator seeded with 0
    expected = F.normalize(torch.randn(4, 3, 256, generator=torch.Generator().manual_seed(0)), dim=-1)
    assert torch.equal(bank.prototypes, expected)


def test_bank_default_max_weight_is_5_for_unseen_pairs():
    bank = PrototypeBank(2, 2, 3)
    f = F.normalize(torch.tensor([[1.0, 2.0, 2.0]]), dim=1)
    bank.update(f, torch.tensor([0]), torch.tensor([1]))
    assert bank.weights().tolist() == [[5.0, 1.0], [5.0, 5.0]]


def test_bank_counts_stay_integers_through_updates():
    bank = PrototypeBank(2, 1, 2)
    for _ in range(3):
        bank.update(torch.tensor([[1.0, 0.0]]), torch.tensor([1]), torch.tensor([0]))
    assert bank.counts.dtype == torch.int64 and bank.counts.tolist() == [[0], [3]]
    assert bank.weights().tolist() == [[5.0], [1.0]]


def test_bank_of_one_class_one_granularity_and_dimension_one():
    bank = PrototypeBank(1, 1, 1)
    assert tuple(bank.prototypes.shape) == (1, 1, 1) and abs(float(bank.prototypes)) == pytest.approx(1.0)
    bank.update(torch.tensor([[-3.0], [-1.0]]), torch.tensor([0, 0]), torch.tensor([0, 0]))
    assert bank.prototypes.tolist() == [[[-1.0]]] and bank.counts.tolist() == [[1]]


@pytest.mark.parametrize(("args", "message"), [
    ((0,), "num_classes, num_granularities and dim must be ≥ 1"),
    ((3, 0), "num_classes, num_granularities and dim must be ≥ 1"),
    ((3, 3, 0), "num_classes, num_granularities and dim must be ≥ 1"),
    ((0, 0, 0), "num_classes, num_granularities and dim must be ≥ 1"),
])
def test_bank_rejects_empty_sizes(args, message):
    with pytest.raises(ValueError, match=message):
        PrototypeBank(*args)


@pytest.mark.parametrize("momentum", [-0.01, 1.01, 1.5, 2.0])
def test_bank_rejects_momentum_outside_0_1(momentum):
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        PrototypeBank(2, 1, 2, momentum=momentum)


def test_bank_momentum_0_follows_the_latest_mean_and_1_keeps_the_first():
    a, b = torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, -2.0]])
    pair = (torch.tensor([0]), torch.tensor([0]))
    follow, keep = PrototypeBank(1, 1, 2, momentum=0.0), PrototypeBank(1, 1, 2, momentum=1.0)
    for bank in (follow, keep):
        bank.update(a, *pair)  # first update copies the (normalized) mean
        assert torch.allclose(bank.prototypes[0, 0], torch.tensor([0.6, 0.8]))
        bank.update(b, *pair)
    assert torch.allclose(follow.prototypes[0, 0], torch.tensor([0.0, -1.0]))
    assert torch.allclose(keep.prototypes[0, 0], torch.tensor([0.6, 0.8]))
    assert follow.counts.tolist() == keep.counts.tolist() == [[2]]


@pytest.mark.parametrize("max_weight", [1.0, 1.5])
def test_max_weight_from_the_config_down_to_1(max_weight):
    crit = criterion(["flex.gap.max_pixels=64", f"flex.gap.max_weight={max_weight}", "flex.gap.proj_dim=4"], 4)
    assert crit.bank.weights().tolist() == [[1.0] * 3] * 19  # nothing seen yet
    f = F.normalize(torch.randn(2, 4, generator=torch.Generator().manual_seed(1)), dim=1)
    crit.bank.update(f, torch.tensor([0, 0]), torch.tensor([0, 0]))
    w = crit.bank.weights()
    assert float(w[0, 0]) == 1.0 and bool((w.flatten()[1:] == max_weight).all())


@pytest.mark.parametrize("max_weight", [0.99, 0.0])
def test_max_weight_below_1_is_rejected(max_weight):
    with pytest.raises(ValueError, match="max_weight"):
        criterion([f"flex.gap.max_weight={max_weight}"], 4)


# ----------------------------------------------------------------------------- pixel choice
def ref_choice(lab: torch.Tensor, gran: torch.Tensor, num_classes: int, max_pixels: int, keys: torch.Tensor) -> list[int]:
    """docs/design.md §3: candidates are pixels with granularity ≥ 0 and 0 ≤ label < C; each
    present class takes its ⌊k/K_c⌋ candidates of smallest first key (ties by position), the
    leftover budget goes to the other candidates of smallest second key."""
    lab, gran = lab.reshape(-1).tolist(), gran.reshape(-1).tolist()
    cand = [i for i in range(len(lab)) if gran[i] >= 0 and 0 <= lab[i] < num_classes]
    classes = sorted({lab[i] for i in cand})
    if not classes:
        return []
    quota = max_pixels // len(classes)
    chosen: set[int] = set()
    for c in classes:
        chosen.update(sorted((i for i in cand if lab[i] == c), key=lambda i: (float(keys[0, i]), i))[:quota])
    rest = sorted((i for i in cand if i not in chosen), key=lambda i: (float(keys[1, i]), i))
    chosen.update(rest[: max(max_pixels - len(chosen), 0)])
    return sorted(chosen)


def _choice_case(case: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    B, h, w, C = 2, 6, 7, 6
    gran = torch.randint(0, 3, (B, h, w), generator=g)
    if case == "two of six classes":  # quota = k // 2, not k // 6
        lab = torch.where(torch.rand(B, h, w, generator=g) < 0.8, 1, 4)
    elif case == "one class":  # quota = k, no refill
        lab = torch.full((B, h, w), 2)
    elif case == "a class with one candidate":
        lab = torch.where(torch.rand(B, h, w, generator=g) < 0.5, 0, 3)
        lab[0, 0, 0] = 5
        gran[lab == 5] = -1
        gran[1, 2, 3], lab[1, 2, 3] = 1, 5
    else:  # "labels equal to C": not candidates even inside a band
        lab = torch.randint(0, C + 1, (B, h, w), generator=g)
    return lab, gran, C


@pytest.mark.parametrize("case", ["two of six classes", "one class", "a class with one candidate", "labels equal to C"])
@pytest.mark.parametrize("k", [3, 10, 25])
@pytest.mark.parametrize("seed", [0, 1])
def test_class_quota_counts_only_the_classes_present(case, k, seed):
    lab, gran, C = _choice_case(case, seed)
    gen = torch.Generator().manual_seed(100 + seed)
    keys = torch.rand(2, lab.numel(), generator=torch.Generator().set_state(gen.get_state()))  # the same draws
    index, valid = sample_boundary_indices(lab, gran, C, max_pixels=k, generator=gen)
    assert index[valid].tolist() == ref_choice(lab, gran, C, k, keys)


def test_class_quota_by_hand():
    # classes 1 (many candidates) and 4 (three) of C = 6, k = 4: quota 2 each, nothing left over
    lab = torch.tensor([[[1, 1, 1, 1, 1, 1, 4, 4, 4]]])
    gran = torch.zeros_like(lab)
    index, valid = sample_boundary_indices(lab, gran, 6, max_pixels=4, generator=torch.Generator().manual_seed(0))
    picked = lab.reshape(-1)[index[valid]].tolist()
    assert sorted(picked) == [1, 1, 4, 4]


# ----------------------------------------------------------------------------- through the criterion
def test_feature_maps_one_pixel_high_are_downsampled_and_sampled():
    # labels 4×12 → features 1×3 take rows 0, columns 0, 4, 8: labels (0, 1, 1); with k=3 the
    # first two pixels see two labels (granularity 0), the third only label 1
    crit = criterion(["flex.kernel_sizes=[3]", "flex.ube.enabled=false", "flex.gap.proj_dim=4"], 4).eval()
    labels = torch.ones(1, 4, 12, dtype=torch.long)
    labels[:, :, :4] = 0
    logits = torch.randn(1, 19, 4, 12, generator=torch.Generator().manual_seed(0))
    out = crit(logits, torch.randn(1, 4, 1, 3, generator=torch.Generator().manual_seed(1)), labels)
    assert float(out["gap_num_pixels"]) == 2.0
    loss_gap = float(out["loss_gap"].detach())
    assert math.isfinite(loss_gap) and loss_gap > 0


@pytest.mark.parametrize(("feature_dim", "proj_dim"), [(6, 4), (8, 8)])
def test_projection_head_parameters(feature_dim, proj_dim):
    # conv1 D→D without bias (BN follows), BN (weight, bias), conv2 D→P with bias
    crit = criterion([f"flex.gap.proj_dim={proj_dim}"], feature_dim)
    n = sum(p.numel() for p in crit.parameters())
    assert n == feature_dim * feature_dim + 2 * feature_dim + feature_dim * proj_dim + proj_dim


def test_one_sampled_pixel_is_not_averaged_with_padding():
    # flex.gap.max_pixels=1: one valid row among the fixed-size indices; the loss is that
    # pixel's −log softmax_j(⟨f, p_j⟩/τ)[pair] (fresh bank: weights 1), whichever pixel it is
    crit = criterion(["flex.kernel_sizes=[3]", "flex.ube.enabled=false", "flex.gap.max_pixels=1",
                      "flex.gap.proj_dim=4"], 4).eval()
    tau = float(compose_cfg().flex.gap.tau)
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[:, :, 4:] = 1
    feats = torch.randn(1, 4, 1, 1, generator=torch.Generator().manual_seed(2)).expand(1, 4, 8, 8).contiguous()
    out = crit(torch.zeros(1, 19, 8, 8), feats, labels)
    assert float(out["gap_num_pixels"]) == 1.0
    with torch.no_grad():
        f = crit.projection(feats)[0, :, 0, 0].double()  # the same unit vector at every pixel
    protos = crit.bank.prototypes.reshape(-1, f.numel()).double()
    dots = [float(p @ f) / tau for p in protos]
    lse = math.log(sum(math.exp(d) for d in dots))
    per_pair = {c: lse - dots[c] for c in (0, 1)}  # pairs (c, g=0) of the two classes, index c·1 + 0
    got = float(out["loss_gap"].detach())
    assert any(got == pytest.approx(v, rel=1e-5) for v in per_pair.values()), (got, per_pair)


# ---- second pass (issue 29): every message word for word ----

def _exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


_F = torch.ones(2, 4)
_I = torch.tensor([0, 1])


@pytest.mark.parametrize(("features", "classes", "granularities", "message"), [
    ([[0.0]], _I, _I, "features must be a float tensor [N,D], got <class 'list'>"),
    (None, _I, _I, "features must be a float tensor [N,D], got <class 'NoneType'>"),
    (torch.ones(4), _I, _I, "features must be a float tensor [N,D], got torch.Size([4])"),
    (torch.ones(2, 4, dtype=torch.long), _I, _I, "features must be a float tensor [N,D], got torch.Size([2, 4])"),
    (_F, [0, 1], _I, "classes must be a tensor [N] with N = 2, got <class 'list'>"),
    (_F, torch.tensor([0, 1, 1]), _I, "classes must be a tensor [N] with N = 2, got torch.Size([3])"),
    (_F, torch.tensor([[0, 1]]), _I, "classes must be a tensor [N] with N = 2, got torch.Size([1, 2])"),
    (_F, _I, None, "granularities must be a tensor [N] with N = 2, got <class 'NoneType'>"),
    (_F, _I, torch.tensor([0, 1, 2]), "granularities must be a tensor [N] with N = 2, got torch.Size([3])"),
    (_F, torch.tensor([0.0, 1.0]), _I, "classes must be an integer tensor, got dtype torch.float32"),
    (_F, torch.tensor([True, False]), _I, "classes must be an integer tensor, got dtype torch.bool"),
    (_F, _I, torch.tensor([0.0, 1.0]), "granularities must be an integer tensor, got dtype torch.float32"),
    (_F, _I, torch.tensor([True, False]), "granularities must be an integer tensor, got dtype torch.bool"),
    (_F, torch.tensor([0, 2]), _I, "classes must lie in [0, 2), got range [0, 2]"),
    (_F, torch.tensor([-1, 1]), _I, "classes must lie in [0, 2), got range [-1, 1]"),
    (_F, _I, torch.tensor([0, 3]), "granularities must lie in [0, 3), got range [0, 3]"),
    (_F, _I, torch.tensor([-2, 1]), "granularities must lie in [0, 3), got range [-2, 1]"),
])
def test_pixel_messages_word_for_word(features, classes, granularities, message):
    protos = F.normalize(torch.ones(2, 3, 4), dim=-1)
    with pytest.raises(ValueError, match=_exact(message)):
        gap_loss(features, classes, granularities, protos, torch.ones(2, 3), tau=0.1)
    with pytest.raises(ValueError, match=_exact(message)):
        PrototypeBank(2, 3, 4).update(features, classes, granularities)


def test_gap_loss_and_bank_messages_word_for_word():
    f, c = torch.ones(2, 4), torch.tensor([0, 1])
    protos, w = F.normalize(torch.ones(2, 3, 4), dim=-1), torch.ones(2, 3)
    with pytest.raises(ValueError, match=_exact("prototypes must be [C,G,D] with D = 4, got (2, 3, 5)")):
        gap_loss(f, c, c, torch.ones(2, 3, 5), w, tau=0.1)
    with pytest.raises(ValueError, match=_exact("prototypes must be [C,G,D] with D = 4, got (6, 4)")):
        gap_loss(f, c, c, torch.ones(6, 4), w, tau=0.1)
    with pytest.raises(ValueError, match=_exact("weights must be [C,G] = (2, 3), got (3, 2)")):
        gap_loss(f, c, c, protos, torch.ones(3, 2), tau=0.1)
    with pytest.raises(ValueError, match=_exact("tau must be > 0, got 0.0")):
        gap_loss(f, c, c, protos, w, tau=0.0)
    with pytest.raises(ValueError, match=_exact("features must have D = 4 channels, got 5")):
        PrototypeBank(2, 3, 4).update(torch.ones(2, 5), c, c)
    with pytest.raises(ValueError, match=_exact("momentum must be in [0, 1], got -0.1")):
        PrototypeBank(2, 3, 4, momentum=-0.1)
    with pytest.raises(ValueError, match=_exact("momentum must be in [0, 1], got 1.5")):
        PrototypeBank(2, 3, 4, momentum=1.5)
    with pytest.raises(ValueError, match=_exact("max_weight must be ≥ 1, got 0.9")):
        PrototypeBank(2, 3, 4, max_weight=0.9)
    for sizes in ((0, 3, 4), (2, 0, 4), (2, 3, 0)):
        with pytest.raises(ValueError, match=_exact("num_classes, num_granularities and dim must be ≥ 1")):
            PrototypeBank(*sizes)


def test_sample_boundary_indices_messages_word_for_word():
    lab = torch.zeros(1, 2, 2, dtype=torch.long)
    cases = [
        ((torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long), 2, 3),
         "labels_lowres and granularity must both be [B,h,w], got (2, 2) and (2, 2)"),
        ((lab, torch.zeros(1, 2, 3, dtype=torch.long), 2, 3),
         "labels_lowres and granularity must both be [B,h,w], got (1, 2, 2) and (1, 2, 3)"),
        ((lab.float(), lab, 2, 3), "labels_lowres must be an integer tensor, got dtype torch.float32"),
        ((lab.bool(), lab, 2, 3), "labels_lowres must be an integer tensor, got dtype torch.bool"),
        ((lab, lab.float(), 2, 3), "granularity must be an integer tensor, got dtype torch.float32"),
        ((lab, lab.bool(), 2, 3), "granularity must be an integer tensor, got dtype torch.bool"),
        ((lab, lab, 2, -1), "max_pixels must be ≥ 0, got -1"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=_exact(message)):
            sample_boundary_indices(*args)


_LAB = torch.zeros(1, 4, 4, dtype=torch.long)


@pytest.mark.parametrize(("labels", "size", "message"), [
    ([[0]], 2, "labels must be a tensor [B,H,W], got <class 'list'>"),
    (None, 2, "labels must be a tensor [B,H,W], got <class 'NoneType'>"),
    (torch.zeros(4, 4, dtype=torch.long), 2, "labels must be a tensor [B,H,W], got torch.Size([4, 4])"),
    (torch.zeros(1, 1, 4, 4, dtype=torch.long), 2, "labels must be a tensor [B,H,W], got torch.Size([1, 1, 4, 4])"),
    (_LAB.float(), 2, "labels must be an integer tensor, got dtype torch.float32"),
    (_LAB.bool(), 2, "labels must be an integer tensor, got dtype torch.bool"),
    (_LAB, 0, "size must be an int or (h, w) with positive entries, got 0"),
    (_LAB, -1, "size must be an int or (h, w) with positive entries, got -1"),
    (_LAB, (2,), "size must be an int or (h, w) with positive entries, got (2,)"),
    (_LAB, (2, 0), "size must be an int or (h, w) with positive entries, got (2, 0)"),
    (_LAB, (0, 2), "size must be an int or (h, w) with positive entries, got (0, 2)"),
    (_LAB, (2, 2, 2), "size must be an int or (h, w) with positive entries, got (2, 2, 2)"),
    (_LAB, [0, 3], "size must be an int or (h, w) with positive entries, got [0, 3]"),
])
def test_downsample_labels_messages_word_for_word(labels, size, message):
    with pytest.raises(ValueError, match=_exact(message)):
        downsample_labels(labels, size)


def test_downsample_labels_sizes_by_hand():
    lab = torch.arange(24, dtype=torch.int32).reshape(1, 4, 6)
    # an int is (s, s); a pair is (h, w); size 1 is the top-left pixel
    assert downsample_labels(lab, 2).tolist() == [[[0, 3], [12, 15]]]
    assert downsample_labels(lab, (2, 3)).tolist() == [[[0, 2, 4], [12, 14, 16]]]
    assert downsample_labels(lab, [1, 1]).tolist() == [[[0]]]
    assert downsample_labels(lab, 1).tolist() == [[[0]]]
    # the same size returns the labels as int64, unchanged
    same = downsample_labels(lab, (4, 6))
    assert same.dtype == torch.int64 and torch.equal(same, lab.long())
    assert downsample_labels(lab, 2).dtype == torch.int64
    # upsampling repeats pixels (nearest)
    assert downsample_labels(torch.tensor([[[1, 2]]]), (1, 4)).tolist() == [[[1, 1, 2, 2]]]


def test_projection_head_and_sample_boundary_pixels_messages_word_for_word():
    head = ProjectionHead(4, 3)
    with pytest.raises(ValueError, match=_exact("ProjectionHead expects [B,C,h,w], got (2, 4, 3)")):
        head.hidden(torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match=_exact("ProjectionHead expects [B,C,h,w], got (1, 2, 4, 3, 3)")):
        head(torch.zeros(1, 2, 4, 3, 3))
    f = torch.zeros(1, 2, 1, 4)
    lab = torch.zeros(1, 1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=_exact("features must be [B,D,h,w], got (2, 1, 4)")):
        sample_boundary_pixels(torch.zeros(2, 1, 4), lab, lab, 2, 4)
    with pytest.raises(ValueError, match=_exact("labels_lowres must be [B,h,w] = (1, 1, 4), got (1, 1, 3)")):
        sample_boundary_pixels(f, lab[..., :3], lab[..., :3], 2, 4)
    with pytest.raises(ValueError, match=_exact("labels_lowres must be [B,h,w] = (1, 1, 4), got (2, 1, 4)")):
        sample_boundary_pixels(f, lab.expand(2, 1, 4), lab.expand(2, 1, 4), 2, 4)


def test_sample_boundary_pixels_without_a_generator_draws_from_the_global_rng():
    g = torch.Generator().manual_seed(0)
    lab = torch.randint(0, 3, (2, 6, 6), generator=g)
    gran = torch.randint(-1, 2, (2, 6, 6), generator=g)
    feats = torch.randn(2, 3, 6, 6, generator=g)
    torch.manual_seed(5)
    f1, c1, g1 = sample_boundary_pixels(feats, lab, gran, 3, 7)
    f2, c2, g2 = sample_boundary_pixels(feats, lab, gran, 3, 7, torch.Generator().manual_seed(5))
    assert c1.shape == (7,) and torch.equal(f1, f2) and torch.equal(c1, c2) and torch.equal(g1, g2)
    torch.manual_seed(5)
    index, valid = sample_boundary_indices(lab, gran, 3, 7)
    assert torch.equal(lab.reshape(-1)[index[valid]], c1)


def test_gap_loss_default_tau_is_0_07():
    # docs/design.md §3: τ = 0.07 (the paper's); one pixel, two prototypes, by hand
    f = torch.tensor([[0.6, 0.8]])
    protos = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # C=2, G=1
    expected = -(0.6 / 0.07 - math.log(math.exp(0.6 / 0.07) + math.exp(0.8 / 0.07)))
    got = gap_loss(f, torch.tensor([0]), torch.tensor([0]), protos, torch.ones(2, 1))
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_uniform_keys_come_back_on_the_requested_device():
    from flexseg.flex.gap import _uniform_keys

    # drawn from the CPU generator (the same numbers as a direct draw), then moved to the device
    keys = _uniform_keys(5, torch.Generator().manual_seed(3), torch.device("cpu"))
    assert torch.equal(keys, torch.rand(2, 5, generator=torch.Generator().manual_seed(3)))
    # "meta" stands in for an accelerator here: a CPU generator's draws are moved there
    moved = _uniform_keys(5, torch.Generator().manual_seed(3), torch.device("meta"))
    assert moved.device.type == "meta" and moved.shape == (2, 5)
    # without a generator: the global RNG of the target device
    torch.manual_seed(8)
    own = _uniform_keys(4, None, torch.device("cpu"))
    torch.manual_seed(8)
    assert torch.equal(own, torch.rand(2, 4))
    assert _uniform_keys(4, None, torch.device("meta")).device.type == "meta"
