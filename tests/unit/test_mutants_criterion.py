"""FlexCriterion tests written against the mutants that survived ``make mutation``
(docs/testing.md), through ``flexseg.build.build_criterion`` of a composed config: the
segmentation weight (HRDA's 0.9), ``flex.loss_normalization=all``, a batch or an image with
a single valid pixel, the mean UBE weight over boundary pixels, the dtype of the pixel
count and the input checks' messages. Cross-entropies are computed here with ``math``.
"""
from __future__ import annotations

import math
import re

import pytest
import torch

from tests.integration.test_configs import compose_cfg

C = 19


def criterion(overrides: list[str], feature_dim: int = 4):
    """``build_criterion`` of the composed config for features of ``feature_dim`` channels
    (before and after build_criterion takes feature_dim itself)."""
    from flexseg.build import build_criterion

    cfg = compose_cfg([*overrides, f"model.embed_dim={feature_dim}", "flex.gap.proj_dim=4"])
    return build_criterion(cfg, feature_dim=feature_dim), cfg


def ce(logits: torch.Tensor, b: int, y: int, x: int, t: int) -> float:
    z = [float(v) for v in logits[b, :, y, x]]
    m = max(z)
    return m + math.log(sum(math.exp(v - m) for v in z)) - z[t]


def _batch(seed: int, B=2, H=6, W=6):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, C, H, W, generator=g)
    labels = torch.randint(0, 3, (B, H, W), generator=g)
    labels[torch.rand(B, H, W, generator=g) < 0.2] = 255
    return logits, torch.randn(B, 4, H // 2, W // 2, generator=g), labels


@pytest.mark.parametrize("gap", [True, False])
@pytest.mark.parametrize("seg_weight", [0.9, 2.0, 0.0])
def test_seg_weight_scales_the_segmentation_term_only(gap, seg_weight):
    crit, cfg = criterion([f"flex.gap.enabled={str(gap).lower()}"])
    crit.eval()
    logits, feats, labels = _batch(0)
    out = {k: v.detach() for k, v in crit(logits, feats, labels, seg_weight=seg_weight).items()}
    plain = {k: v.detach() for k, v in crit(logits, feats, labels).items()}
    assert float(out["loss_seg"]) == pytest.approx(float(plain["loss_seg"]))  # returned unscaled
    lam = float(cfg.flex.gap.weight) if gap else 0.0
    expected = seg_weight * float(plain["loss_seg"]) + lam * float(plain["loss_gap"])
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-6)
    assert float(plain["loss"]) == pytest.approx(float(plain["loss_seg"]) + lam * float(plain["loss_gap"]), rel=1e-6)


@pytest.mark.parametrize("normalization", ["valid", "all"])
def test_loss_normalization_valid_or_all_pixels(normalization):
    crit, _ = criterion(["flex.gap.enabled=false", "flex.ube.enabled=false", f"flex.loss_normalization={normalization}"])
    logits, _, labels = _batch(1)
    total, n_valid = 0.0, 0
    per_image = []
    for b in range(labels.shape[0]):
        s, n = 0.0, 0
        for y in range(labels.shape[1]):
            for x in range(labels.shape[2]):
                if int(labels[b, y, x]) != 255:
                    s += ce(logits, b, y, x, int(labels[b, y, x]))
                    n += 1
        total, n_valid = total + s, n_valid + n
        per_image.append(s / n)
    out = crit(logits, None, labels)
    denominator = n_valid if normalization == "valid" else labels.numel()
    assert float(out["loss"]) == pytest.approx(total / denominator, rel=1e-5)
    assert out["per_image"].tolist() == pytest.approx(per_image, rel=1e-5)  # always over the valid pixels


@pytest.mark.parametrize("ube", ["true", "false"])
def test_a_single_valid_pixel(ube):
    # one valid pixel: no boundary (a band needs two labels), so UBE's weight is 1
    crit, _ = criterion(["flex.gap.enabled=false", f"flex.ube.enabled={ube}"])
    logits = torch.randn(2, C, 3, 3, generator=torch.Generator().manual_seed(2))
    labels = torch.full((2, 3, 3), 255)
    labels[1, 2, 0] = 7
    out = crit(logits, None, labels)
    expected = ce(logits, 1, 2, 0, 7)
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-6)
    assert out["per_image"].tolist() == pytest.approx([0.0, expected], rel=1e-6)
    assert float(out["ube_mean_boundary_weight"]) == 1.0


def test_mean_boundary_weight_is_over_boundary_pixels_only():
    crit, cfg = criterion(["flex.gap.enabled=false", "flex.kernel_sizes=[3]"])
    alpha, eps = float(cfg.flex.ube.alpha), float(cfg.flex.ube.eps)
    logits = 2 * torch.randn(1, C, 6, 8, generator=torch.Generator().manual_seed(4))
    labels = torch.zeros(1, 6, 8, dtype=torch.long)
    labels[:, :, 5:] = 1  # the band of kernel 3: columns 4 and 5; interior: columns 0–3, 6, 7
    labels[0, 0, 0] = 255
    pixels = [(y, x) for y in range(6) for x in range(8) if (y, x) != (0, 0)]
    ent = {}
    for y, x in pixels:
        z = [float(v) for v in logits[0, :, y, x]]
        m = max(z)
        p = [math.exp(v - m) for v in z]
        p = [v / sum(p) for v in p]
        ent[y, x] = -sum(v * math.log(v) for v in p)
    mu = sum(ent.values()) / len(ent)
    sigma = math.sqrt(sum((e - mu) ** 2 for e in ent.values()) / len(ent))
    w = {yx: 1 + alpha / (1 + math.exp(-(ent[yx] - mu) / (sigma + eps))) if yx[1] in (4, 5) else 1.0 for yx in pixels}
    out = crit(logits, None, labels)
    boundary = [yx for yx in pixels if yx[1] in (4, 5)]
    assert float(out["ube_mean_boundary_weight"]) == pytest.approx(sum(w[yx] for yx in boundary) / len(boundary), rel=1e-5)
    expected = sum(w[y, x] * ce(logits, 0, y, x, int(labels[0, y, x])) for y, x in pixels) / len(pixels)
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-5)


def test_gap_pixel_count_is_a_float():
    crit, _ = criterion([])
    logits, feats, labels = _batch(3)
    n = crit(logits, feats, labels)["gap_num_pixels"]
    assert n.dtype == torch.float32 and float(n) > 0


@pytest.mark.parametrize(("logits_shape", "message"), [
    ((2, 6, 6), r"logits \[B,C,H,W\] must match labels \[B,H,W\]"),
    ((2, C, 6, 5), r"logits \[B,C,H,W\] must match labels \[B,H,W\]"),
    ((1, C, 6, 6), r"logits \[B,C,H,W\] must match labels \[B,H,W\]"),
    ((2, 5, 6, 6), "logits have 5 classes, expected 19"),
])
def test_logits_checks_name_the_problem(logits_shape, message):
    crit, _ = criterion(["flex.gap.enabled=false"])
    with pytest.raises(ValueError, match=message):
        crit(torch.zeros(logits_shape), None, torch.zeros(2, 6, 6, dtype=torch.long))


@pytest.mark.parametrize("features", [None, torch.zeros(2, 4, 3), torch.zeros(1, 4, 3, 3)])
def test_gap_needs_features_of_the_batch(features):
    crit, _ = criterion([])
    with pytest.raises(ValueError, match=r"GAP needs features \[B,D,h,w\]"):
        crit(torch.zeros(2, C, 6, 6), features, torch.zeros(2, 6, 6, dtype=torch.long))


# ---- second pass (issue 29): every message word for word, built directly from conf/flex/default.yaml ----

HOME = " (conf/flex/default.yaml)"


@pytest.mark.parametrize(("kwargs", "message", "cause"), [
    (dict(kernel_sizes=(3, 4)), "flex.kernel_sizes: kernel sizes must be odd positive ints, got (3, 4)" + HOME, ValueError),
    (dict(kernel_sizes=3), "flex.kernel_sizes: kernel_sizes must be a sequence of odd ints, got 3" + HOME, ValueError),
    (dict(gap={"tau": 0.0}), "flex.gap.tau must be a positive number, got 0.0" + HOME, None),
    (dict(gap={"tau": True}), "flex.gap.tau must be a positive number, got True" + HOME, None),
    (dict(gap={"tau": "0.1"}), "flex.gap.tau must be a positive number, got '0.1'" + HOME, None),
    (dict(gap={"max_pixels": -1}), "flex.gap.max_pixels must be a positive number, got -1" + HOME, None),
    (dict(gap={"max_pixels": 0}), "flex.gap.max_pixels must be a positive number, got 0" + HOME, None),
    (dict(gap={"momentum": 1.5}), "flex.gap: momentum must be in [0, 1], got 1.5" + HOME, ValueError),
    (dict(gap={"max_weight": 0.5}), "flex.gap: max_weight must be ≥ 1, got 0.5" + HOME, ValueError),
    (dict(ube={"alpha": -1.0}), "flex.ube.alpha must be ≥ 0, got -1.0" + HOME, None),
    (dict(ube={"alpha": float("nan")}), "flex.ube.alpha must be ≥ 0, got nan" + HOME, None),
    (dict(normalize="sum"), "flex.loss_normalization must be one of ('valid', 'all'), got 'sum'" + HOME, None),
])
def test_option_messages_word_for_word(kwargs, message, cause):
    from flexseg.flex.criterion import FlexCriterion
    from tests.conf_values import criterion_kwargs

    with pytest.raises(ValueError, match="^" + re.escape(message) + "$") as info:
        FlexCriterion(4, feature_dim=8, **criterion_kwargs(**kwargs))
    if cause is not None:
        assert isinstance(info.value.__cause__, cause)


def test_unknown_and_missing_options_name_their_section():
    from flexseg.flex.criterion import FlexCriterion
    from flexseg.utils.config import ConfigError
    from tests.conf_values import criterion_kwargs

    for section, keys in (("ube", "enabled, alpha, eps"), ("gap", "enabled, weight, tau, momentum, proj_dim, max_pixels, max_weight")):
        message = (f"flex.{section}: unknown flex.{section}.lambda (known: {keys}) "
                   "(every option is required; the values live in conf/flex/default.yaml)")
        with pytest.raises(ConfigError, match="^" + re.escape(message) + "$"):
            FlexCriterion(4, feature_dim=8, **criterion_kwargs(**{section: {"lambda": 1.0}}))
    # None = off, for both sections
    crit = FlexCriterion(4, feature_dim=8, **(criterion_kwargs() | {"ube": None, "gap": None}))
    assert crit.ube_cfg == {"enabled": False} and crit.gap_cfg == {"enabled": False}


@pytest.mark.parametrize(("logits_shape", "features", "message"), [
    ((2, 6, 6), None, "FlexCriterion: logits [B,C,H,W] must match labels [B,H,W] (upsample logits to the label size first); "
                      "got logits (2, 6, 6), labels (2, 6, 6)"),
    ((2, 4, 6, 5), None, "FlexCriterion: logits [B,C,H,W] must match labels [B,H,W] (upsample logits to the label size first); "
                         "got logits (2, 4, 6, 5), labels (2, 6, 6)"),
    ((1, 4, 6, 6), None, "FlexCriterion: logits [B,C,H,W] must match labels [B,H,W] (upsample logits to the label size first); "
                         "got logits (1, 4, 6, 6), labels (2, 6, 6)"),
    ((2, 5, 6, 6), None, "FlexCriterion: logits have 5 classes, expected 4"),
    ((2, 4, 6, 6), None, "FlexCriterion: GAP needs features [B,D,h,w], got None"),
    ((2, 4, 6, 6), torch.zeros(2, 8, 3), "FlexCriterion: GAP needs features [B,D,h,w], got torch.Size([2, 8, 3])"),
    ((2, 4, 6, 6), torch.zeros(1, 8, 3, 3), "FlexCriterion: GAP needs features [B,D,h,w], got torch.Size([1, 8, 3, 3])"),
])
def test_input_messages_word_for_word(logits_shape, features, message):
    from flexseg.flex.criterion import FlexCriterion
    from tests.conf_values import criterion_kwargs

    crit = FlexCriterion(4, feature_dim=8, **criterion_kwargs())
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        crit(torch.zeros(logits_shape), features, torch.zeros(2, 6, 6, dtype=torch.long))


def test_an_ignore_index_other_than_255_reaches_every_term():
    """FlexCriterion(ignore_index=7): label 7 is ignored by the cross-entropy, by UBE's band
    and statistics and by GAP's granularity map (a 0|7 edge is no boundary)."""
    from flexseg.flex.boundaries import boundary_bands, granularity_map
    from flexseg.flex.criterion import FlexCriterion
    from flexseg.flex.ube import ube_loss
    from tests.conf_values import criterion_kwargs

    g = torch.Generator().manual_seed(4)
    labels = torch.zeros(2, 8, 16, dtype=torch.long)
    labels[0, :, 5:10] = 1  # image 0: 0 | 1 | 7
    labels[:, :, 10:] = 7  # image 1: 0 | 7 (no boundary at all with 7 ignored)
    logits = torch.randn(2, 4, 8, 16, generator=g)
    feats = torch.randn(2, 8, 8, 16, generator=g)
    crit = FlexCriterion(4, feature_dim=8, ignore_index=7, **criterion_kwargs(gap={"max_pixels": 1000}))
    out = crit(logits, feats, labels)
    # UBE on the thickest band (7×7) of the 0|1 edges only, with 7 ignored
    band = boundary_bands(labels, (7,), ignore_index=7)[:, 0]
    alpha = criterion_kwargs()["ube"]["alpha"]
    eps = criterion_kwargs()["ube"]["eps"]
    expected = ube_loss(logits, labels, band, alpha=alpha, eps=eps, ignore_index=7)
    assert out["loss_seg"].item() == pytest.approx(expected.item(), rel=1e-5)
    # GAP: every pixel of a 0|1 boundary (granularity ≥ 0 with 7 ignored) is sampled
    gran = granularity_map(labels, (3, 5, 7), ignore_index=7)
    n_expected = int(((gran >= 0) & (labels < 4)).sum())
    assert n_expected > 0
    assert n_expected != int(((granularity_map(labels, (3, 5, 7)) >= 0) & (labels < 4)).sum())
    assert out["gap_num_pixels"].item() == n_expected


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_ube_alpha_0_and_below_1_are_accepted(alpha):
    # flex.ube.alpha must be ≥ 0: α = 0 is plain cross-entropy, any α in [0, 1) is valid too
    from flexseg.flex.criterion import FlexCriterion
    from tests.conf_values import criterion_kwargs

    crit = FlexCriterion(4, feature_dim=8, **criterion_kwargs(ube={"alpha": alpha}, gap=None))
    assert crit.ube_enabled and crit.ube_cfg["alpha"] == alpha
    if alpha == 0.0:
        g = torch.Generator().manual_seed(2)
        logits, labels = torch.randn(2, 4, 6, 6, generator=g), torch.randint(0, 4, (2, 6, 6), generator=g)
        expected = torch.nn.functional.cross_entropy(logits, labels, ignore_index=255)
        assert crit(logits, None, labels)["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_sampling_seed_defaults_to_0():
    from flexseg.flex.criterion import FlexCriterion
    from tests.conf_values import criterion_kwargs

    crit = FlexCriterion(4, feature_dim=8, **criterion_kwargs())
    assert crit.seed == 0 and crit.generator.initial_seed() == 0
    assert torch.equal(crit.generator.get_state(), torch.Generator().manual_seed(0).get_state())
