"""SHADE and feature-distance tests written against the mutants that survived ``make
mutation`` (docs/testing.md).

They pin what tests/unit/test_shade.py and test_feature_distance.py left open: the edges
of the argument checks (one base style, one point, start 0, k = N, scale 1, 4-d labels,
concentration 0), hallucination of a float64 map with float32 weights and styles, the
consistency loss where probabilities underflow to 0, the module's default seed and the
dtype of its ``initialized`` buffer, extra state without a generator, and the cells the
feature distance pads at the bottom (ignored even when class 0 is a "thing").
Expected values are computed here by hand or by loops.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from flexseg.models.feature_distance import downscale_label_ratio, feature_distance_loss
from flexseg.models.shade import StyleHallucination, farthest_point_sampling, hallucinate, style_consistency_loss


def test_farthest_point_sampling_edges():
    pts = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    assert farthest_point_sampling(pts, 1, 0).tolist() == [0]  # one style, start 0
    assert farthest_point_sampling(pts, 2, 0).tolist() == [0, 1]
    assert farthest_point_sampling(pts[:1], 1, 0).tolist() == [0]  # one point
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # k = N: no warning (no style repeats)
        assert farthest_point_sampling(pts, 3, 2).tolist() == [2, 1, 0]
    for bad in (dict(k=0, start=0), dict(k=2, start=3), dict(k=2, start=-1)):
        with pytest.raises(ValueError):
            farthest_point_sampling(pts, **bad)
    with pytest.raises(ValueError):
        farthest_point_sampling(pts[:0], 1, 0)


def test_hallucinate_a_float64_map_with_float32_weights_and_styles():
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    w = torch.tensor([[0.25, 0.75]])
    pm, ps = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.5, 1.0], [1.5, 2.0]])
    out = hallucinate(x, w, pm, ps)
    assert out.dtype == torch.float64
    assert out.mean(dim=(2, 3))[0].tolist() == pytest.approx([2.5, 3.5], abs=1e-9)
    assert out.std(dim=(2, 3))[0].tolist() == pytest.approx([1.25, 1.75], rel=1e-6)


def test_consistency_loss_is_finite_where_probabilities_underflow():
    logits = torch.tensor([0.0, 200.0, -200.0]).view(1, 3, 1, 1).repeat(2, 1, 2, 2)
    loss = style_consistency_loss(logits, 10.0)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(0.0, abs=1e-6)


def test_style_hallucination_defaults_checks_and_state():
    sh = StyleHallucination(3, 2, 0.5)  # seed 0 by default
    sh.set_styles(torch.zeros(2, 3), torch.ones(2, 3))
    assert np.allclose(sh.sample_weights(4).numpy(), np.random.default_rng(0).dirichlet([0.5, 0.5], size=4), atol=1e-6)
    assert sh.state_dict()["initialized"].dtype == torch.bool
    one = StyleHallucination(3, 1, 0.5, seed=1)  # one base style: weight 1
    assert one.sample_weights(2).tolist() == [[1.0], [1.0]]
    for bad in ((3, 2, 0.0), (3, -1, 0.5), (0, None, 0.5)):
        with pytest.raises(ValueError, match="positive"):
            StyleHallucination(*bad)
    state = sh.rng.bit_generator.state
    sh.set_extra_state({})  # an extra state without a generator leaves it as it is
    sh.set_extra_state(None)
    assert sh.rng.bit_generator.state == state


def test_downscale_label_ratio_scale_one_and_shape_check():
    lab = torch.tensor([[[0, 1], [255, 2]]])
    assert downscale_label_ratio(lab, 1, 0.75, 3).tolist() == lab.tolist()
    with pytest.raises(ValueError, match="scale"):
        downscale_label_ratio(lab[None], 2, 0.75, 3)  # [1,1,H,W]
    with pytest.raises(ValueError, match="scale"):
        downscale_label_ratio(lab, 0, 0.75, 3)


def test_feature_distance_pads_missing_label_rows_with_ignore_even_for_class_0():
    """H=100, W=1000, a 4×32 feature map: the 4th row has no label cell; with class 0 a
    'thing' it still must not count (padded with ignore, not 0)."""
    labels = torch.zeros(1, 100, 1000, dtype=torch.long)
    loss, n = feature_distance_loss(torch.ones(1, 2, 4, 32), torch.zeros(1, 2, 4, 32), labels, torch.tensor([0]), 0.75, 19)
    assert n.item() == 3 * 32 and loss.item() == pytest.approx(2 ** 0.5)


def test_error_and_warning_messages():
    pts = torch.zeros(2, 3)
    with pytest.warns(UserWarning, match=r"^SHADE: 5 base styles from only 2 style samples: 3 of them repeat \(use more images, "
                                         r"or model\.shade\.num_styles <= 2\)$"):
        farthest_point_sampling(pts, 5, 0)
    with pytest.raises(ValueError, match=r"^farthest-point sampling needs k > 0 and points, got k=0, 2 points$"):
        farthest_point_sampling(pts, 0, 0)
    with pytest.raises(ValueError, match=r"^start index 2 out of range for 2 points$"):
        farthest_point_sampling(pts, 1, 2)
    with pytest.raises(ValueError, match=r"^style consistency needs \[originals; hallucinated\] logits, got batch 3$"):
        style_consistency_loss(torch.zeros(3, 2, 1, 1), 1.0)
    sh = StyleHallucination(3, 2, 0.5)
    with pytest.raises(RuntimeError, match=r"^SHADE: base styles were never computed \(SegModule refreshes them before the first "
                                           r"training step; call SegModule\.refresh_styles\(\) when training outside Lightning\)$"):
        sh(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"^SHADE: expected 3 channels, got 4$"):
        sh(torch.zeros(1, 4, 5, 5))
    with pytest.raises(ValueError, match=r"^SHADE: concentration and num_styles must be positive, got 0\.0, 2$"):
        StyleHallucination(3, 2, 0.0)


def test_frozen_encoder_warning_text():
    from flexseg.models.feature_distance import FrozenEncoder

    with pytest.warns(UserWarning, match=r"^feature distance without pretrained encoder weights \(model\.pretrained=null\): the "
                                         r"frozen 'ImageNet' copy is the randomly initialized encoder$"):
        FrozenEncoder(torch.nn.Linear(1, 1), None)
