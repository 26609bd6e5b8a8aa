"""FlexCriterion: composition of CE / UBE / GAP, gradients, bank updates, state."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from flexseg.flex.boundaries import boundary_bands
from flexseg.flex.criterion import FlexCriterion
from flexseg.flex.ube import ube_loss
from flexseg.utils.config import ConfigError
from tests.conf_values import criterion_kwargs

IGN = 255
C, D = 4, 8


def batch(seed=0, B=2, H=16, W=16):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, C, (B, H // 4, W // 4), generator=g)
    labels = coarse.repeat_interleave(4, 1).repeat_interleave(4, 2)
    labels[torch.rand(B, H, W, generator=g) < 0.1] = IGN
    logits = torch.randn(B, C, H, W, generator=g).requires_grad_(True)
    feats = torch.randn(B, D, H // 4, W // 4, generator=g).requires_grad_(True)
    return logits, feats, labels


def make(ube=True, gap=True, **gap_kw):
    """The values of conf/flex/default.yaml, with a 6-d projection and ``gap_kw``."""
    return FlexCriterion(C, feature_dim=D, **criterion_kwargs(ube={"enabled": ube},
                                                              gap={"enabled": gap, "proj_dim": 6, **gap_kw}))


@pytest.mark.parametrize("disabled", [dict(ube={"enabled": False}, gap={"enabled": False}), dict(ube=None, gap=None)])
def test_all_disabled_is_cross_entropy(disabled):
    crit = FlexCriterion(C, feature_dim=D, **criterion_kwargs(**disabled))
    logits, feats, labels = batch()
    out = crit(logits, feats, labels)
    ce = F.cross_entropy(logits, labels, ignore_index=IGN)
    assert torch.allclose(out["loss"], ce, rtol=1e-6) and torch.allclose(out["loss_seg"], ce, rtol=1e-6)
    assert out["loss_gap"].item() == 0.0 and out["gap_num_pixels"].item() == 0.0
    assert list(crit.state_dict()) == ["_extra_state"]
    ce_map = F.cross_entropy(logits, labels, ignore_index=IGN, reduction="none")
    valid = labels != IGN
    assert torch.allclose(out["per_image"], ce_map.sum((1, 2)) / valid.sum((1, 2)))
    assert not out["per_image"].requires_grad


def test_ube_only_uses_thickest_band():
    crit = make(ube=True, gap=False)
    logits, feats, labels = batch(1)
    out = crit(logits, None, labels)
    ref = ube_loss(logits, labels, boundary_bands(labels)[:, -1])
    assert torch.allclose(out["loss"], ref) and torch.allclose(out["loss_seg"], ref)
    assert out["ube_mean_boundary_weight"].item() > 1.0


def test_all_enabled():
    crit = make()
    crit.train()
    logits, feats, labels = batch(2)
    counts0 = crit.bank.counts.clone()
    out = crit(logits, feats, labels)
    for key in ("loss", "loss_seg", "loss_gap", "per_image", "ube_mean_boundary_weight", "gap_num_pixels"):
        assert key in out and torch.isfinite(out[key]).all(), key
    assert out["per_image"].shape == (2,) and not out["per_image"].requires_grad
    assert out["gap_num_pixels"].item() > 0 and out["loss_gap"].item() > 0
    assert torch.allclose(out["loss"], out["loss_seg"] + 0.5 * out["loss_gap"])
    assert crit.bank.counts.sum() > counts0.sum()
    out["loss"].backward()  # the bank was updated in place after the loss: backward still works
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert all(p.grad is not None for p in crit.projection.parameters())
    sd = crit.state_dict()
    assert "bank.prototypes" in sd and "bank.counts" in sd and "projection.conv1.weight" in sd


def test_gap_weight_and_eval_does_not_update():
    crit = make(ube=False, weight=2.0)
    logits, feats, labels = batch(3)
    crit.eval()
    before = crit.bank.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    out = crit(logits, feats, labels)
    ce = F.cross_entropy(logits, labels, ignore_index=IGN)
    assert torch.allclose(out["loss"], ce + 2.0 * out["loss_gap"])
    assert all(torch.equal(v, crit.bank.state_dict()[k]) for k, v in before.items())


def test_no_boundary_pixels_gap_is_zero_and_finite():
    crit = make()
    crit.train()
    logits, feats, _ = batch(4)
    labels = torch.full((2, 16, 16), 2)
    out = crit(logits, feats, labels)
    assert out["loss_gap"].item() == 0.0 and out["gap_num_pixels"].item() == 0
    assert torch.allclose(out["loss"], F.cross_entropy(logits, labels))
    out["loss"].backward()
    assert int(crit.bank.counts.sum()) == 0
    assert out["ube_mean_boundary_weight"].item() == 1.0


def test_all_ignored_is_finite():
    crit = make()
    crit.train()
    logits, feats, _ = batch(5)
    labels = torch.full((2, 16, 16), IGN)
    out = crit(logits, feats, labels)
    assert out["loss"].item() == 0.0 and torch.equal(out["per_image"], torch.zeros(2))
    out["loss"].backward()


def test_max_pixels_and_generator_state():
    crit = make(max_pixels=5)
    crit.train()
    logits, feats, labels = batch(6)
    out = crit(logits, feats, labels)
    assert out["gap_num_pixels"].item() == 5
    state = crit.state_dict()
    other = make(max_pixels=5)
    other.load_state_dict(state)
    assert torch.equal(other.generator.get_state(), crit.generator.get_state())
    assert torch.equal(other.bank.counts, crit.bank.counts)


def test_validation():
    crit = make()
    logits, feats, labels = batch()
    with pytest.raises(ValueError):
        crit(logits[:, :, :8], feats, labels)  # logits not at label resolution
    with pytest.raises(ValueError):
        crit(logits[:, :3], feats, labels)  # wrong number of classes
    with pytest.raises(ValueError):
        crit(logits, None, labels)  # GAP needs features


@pytest.mark.parametrize("kwargs, message", [
    (dict(gap={"lambda": 1.0}), r"unknown flex\.gap\.lambda .*conf/flex/default\.yaml"),
    (dict(ube={"alpha": 2.0}, gap={}), None),  # all keys: fine
    (dict(kernel_sizes=(3, 4)), r"flex\.kernel_sizes"),
    (dict(gap={"tau": 0.0}), r"flex\.gap\.tau"),
    (dict(gap={"max_pixels": -1}), r"flex\.gap\.max_pixels"),
    (dict(gap={"momentum": 1.5}), r"flex\.gap: momentum"),
    (dict(gap={"max_weight": 0.5}), r"flex\.gap: max_weight"),
    (dict(ube={"alpha": -1.0}), r"flex\.ube\.alpha"),
    (dict(normalize="sum"), r"flex\.loss_normalization"),
])
def test_bad_options_name_their_config_key(kwargs, message):
    if message is None:
        FlexCriterion(C, feature_dim=D, **criterion_kwargs(**kwargs))
        return
    with pytest.raises(ValueError, match=message):
        FlexCriterion(C, feature_dim=D, **criterion_kwargs(**kwargs))


def test_every_option_is_required():
    """No defaults in code: a missing key of flex.ube / flex.gap names the key and conf/flex/default.yaml;
    off values are checked for presence too (None alone means off)."""
    full = criterion_kwargs()
    for section in ("ube", "gap"):
        for key in full[section]:
            partial = {k: v for k, v in full[section].items() if k != key}
            with pytest.raises(ConfigError, match=rf"missing flex\.{section}\.{key}\b.*conf/flex/default\.yaml"):
                FlexCriterion(C, feature_dim=D, **(full | {section: partial}))
    with pytest.raises(ConfigError, match=r"missing flex\.gap\.weight, flex\.gap\.tau"):
        FlexCriterion(C, feature_dim=D, **(full | {"gap": {"enabled": False}}))
    with pytest.raises(TypeError, match="normalize"):
        FlexCriterion(C, feature_dim=D, kernel_sizes=(3, 5, 7), ube=None, gap=None)
    crit = FlexCriterion(C, feature_dim=D, **(full | {"ube": None, "gap": None}))
    assert not crit.ube_enabled and not crit.gap_enabled


def test_segmentation_loss_matches_forward():
    crit = make()
    logits, feats, labels = batch(7)
    seg = crit.segmentation_loss(logits, labels)
    out = crit(logits, feats, labels)
    assert torch.allclose(seg["loss"], out["loss_seg"]) and torch.allclose(seg["per_image"], out["per_image"])
    off = make(ube=False, gap=False).segmentation_loss(logits, labels)
    assert torch.allclose(off["loss"], F.cross_entropy(logits, labels, ignore_index=IGN))


def test_feature_labels_crop():
    # features cover the right half of the labels: GAP must use those labels
    crit = make(ube=False)
    crit.train()
    logits, _, labels = batch(8)
    labels[:, :, :8] = 1  # left half: one class, no boundary
    feats = torch.randn(2, D, 4, 2, requires_grad=True)
    out = crit(logits, feats, labels, feature_labels=labels[:, :, 8:])
    assert out["gap_num_pixels"].item() > 0
    crit2 = make(ube=False)
    out2 = crit2(logits, feats, labels, feature_labels=labels[:, :, :8])
    assert out2["gap_num_pixels"].item() == 0


@pytest.mark.parametrize("max_pixels", [5, 30, 10_000])
def test_gap_equals_the_explicit_pipeline(max_pixels):
    """Project every pixel, gather the sampled ones (sample_boundary_pixels with the same
    generator draws), gap_loss against the pre-update bank, then PrototypeBank.update."""
    from flexseg.flex.boundaries import granularity_map
    from flexseg.flex.gap import PrototypeBank, downsample_labels, gap_loss, sample_boundary_pixels

    crit = make(ube=False, max_pixels=max_pixels).train()
    logits, feats, labels = batch(7)
    gen = torch.Generator().set_state(crit.generator.get_state())
    bank = PrototypeBank(C, 3, 6, momentum=crit.bank.momentum, max_weight=crit.bank.max_weight)
    bank.load_state_dict(crit.bank.state_dict())
    lab_low = downsample_labels(labels, feats.shape[-2:])
    proj = crit.projection(feats)  # same batch → same BN statistics
    f, c, g = sample_boundary_pixels(proj, lab_low, granularity_map(lab_low), C, max_pixels, gen)
    ref = gap_loss(f, c, g, bank.prototypes.clone(), bank.weights(), tau=crit.gap_cfg["tau"])
    bank.update(f, c, g)
    out = crit(logits, feats, labels)
    assert 0 < f.shape[0] <= max_pixels and out["gap_num_pixels"].item() == f.shape[0]
    torch.testing.assert_close(out["loss_gap"], ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(crit.bank.prototypes, bank.prototypes, rtol=1e-5, atol=1e-6)
    assert torch.equal(crit.bank.counts, bank.counts)
    assert torch.equal(crit.generator.get_state(), gen.get_state())
