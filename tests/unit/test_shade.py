"""SHADE math against slow references (flexseg.models.shade)."""
import math

import numpy as np
import pytest
import torch

from flexseg.models.shade import (
    StyleHallucination,
    base_styles,
    farthest_point_sampling,
    hallucinate,
    style_consistency_loss,
    style_statistics,
)


def test_style_statistics_match_loops():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    mean, std = style_statistics(x)
    for b in range(2):
        for c in range(3):
            vals = x[b, c].flatten().tolist()
            m = sum(vals) / len(vals)
            s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))  # unbiased, as Tensor.std
            assert mean[b, c].item() == pytest.approx(m, abs=1e-12)
            assert std[b, c].item() == pytest.approx(s, abs=1e-12)


def test_hallucinate_matches_per_pixel_formula_and_takes_the_new_statistics():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64) * 3 + 1
    pm, ps = torch.randn(5, 3, dtype=torch.float64), torch.rand(5, 3, dtype=torch.float64) + 0.5
    w = torch.distributions.Dirichlet(torch.ones(5)).sample((2,)).double()
    out = hallucinate(x, w, pm, ps)
    for b in range(2):
        for c in range(3):
            vals = x[b, c].flatten()
            m, s = vals.mean().item(), vals.std().item() + 1e-7
            nm = sum(w[b, k].item() * pm[k, c].item() for k in range(5))
            ns = sum(w[b, k].item() * ps[k, c].item() for k in range(5))
            for i in range(4):
                for j in range(4):
                    assert out[b, c, i, j].item() == pytest.approx((x[b, c, i, j].item() - m) / s * ns + nm, abs=1e-9)
    # the re-styled map has (almost) the base-style mixture as its statistics
    mean, std = style_statistics(out)
    assert torch.allclose(mean, w @ pm, atol=1e-6) and torch.allclose(std, w @ ps, atol=1e-6)


def test_hallucinate_statistics_are_detached():
    x = torch.randn(1, 2, 3, 3, requires_grad=True)
    out = hallucinate(x, torch.tensor([[1.0]]), torch.zeros(1, 2), torch.ones(1, 2))
    out.sum().backward()
    # with the statistics detached, d/dx of Σ (x − μ)/σ is 1/σ per element (not 0)
    assert torch.allclose(x.grad, (1 / (x.detach().std(dim=(2, 3), keepdim=True) + 1e-7)).expand_as(x))


def test_style_consistency_loss_matches_slow_js_formula():
    torch.manual_seed(1)
    logits = torch.randn(4, 3, 2, 2)
    got = style_consistency_loss(logits, weight=10.0)
    p = torch.softmax(logits.double(), 1)
    total, n = 0.0, 0
    for b in range(2):
        for i in range(2):
            for j in range(2):
                po, pa = p[b, :, i, j], p[b + 2, :, i, j]
                m = [min(max((po[k] + pa[k]).item() / 2, 1e-7), 1) for k in range(3)]
                kl_a = sum(pa[k].item() * (math.log(pa[k].item()) - math.log(m[k])) for k in range(3))
                kl_o = sum(po[k].item() * (math.log(po[k].item()) - math.log(m[k])) for k in range(3))
                total += (kl_a + kl_o) / 2
                n += 1
    assert got.item() == pytest.approx(10.0 * total / n, rel=1e-5)
    same = torch.randn(1, 3, 2, 2).repeat(2, 1, 1, 1)
    assert style_consistency_loss(same, 10.0).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        style_consistency_loss(torch.randn(3, 3, 2, 2), 10.0)


def _fps_slow(points, k, start):
    chosen = [start]
    while len(chosen) < k:
        best, best_d = None, -1.0
        for i in range(len(points)):
            d = min(sum((a - b) ** 2 for a, b in zip(points[i], points[c])) for c in chosen)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
    return chosen


def test_farthest_point_sampling_matches_slow_greedy():
    g = torch.Generator().manual_seed(3)
    pts = torch.randn(40, 6, generator=g)
    idx = farthest_point_sampling(pts, 7, start=5)
    assert idx.tolist() == _fps_slow(pts.tolist(), 7, 5)
    # more base styles than samples: the reference's loop repeats index 0 after all points
    few = pts[:5]
    with pytest.warns(UserWarning, match="repeat"):
        idx = farthest_point_sampling(few, 8, start=2)
    assert idx.tolist() == _fps_slow(few.tolist(), 8, 2)
    assert sorted(idx[:5].tolist()) == [0, 1, 2, 3, 4] and idx[5:].tolist() == [0, 0, 0]
    with pytest.raises(ValueError):
        farthest_point_sampling(pts, 0, 0)


def test_base_styles_take_the_sampled_images_statistics():
    stats = torch.randn(10, 2, 4)
    pm, ps = base_styles(stats, 3, start=2)
    idx = farthest_point_sampling(stats.reshape(10, -1), 3, 2)
    assert torch.equal(pm, stats[idx, 0]) and torch.equal(ps, stats[idx, 1])
    assert idx[0] == 2


def test_style_hallucination_module_state_and_determinism():
    a, b = StyleHallucination(4, 6, 0.0156, seed=7), StyleHallucination(4, 6, 0.0156, seed=7)
    x = torch.randn(2, 4, 3, 3)
    with pytest.raises(RuntimeError, match="base styles"):
        a(x)
    pm, ps = torch.randn(6, 4), torch.rand(6, 4) + 0.1
    a.set_styles(pm, ps)
    a(x)  # advance a's generator by one draw
    b.load_state_dict(a.state_dict())  # buffers + generator state
    assert torch.equal(b.proto_mean, pm) and bool(b.initialized)
    out_a, out_b = a(x), b(x)
    assert out_a.shape == (4, 4, 3, 3) and torch.equal(out_a[:2], x)
    assert torch.equal(out_a, out_b)  # same generator state → same Dirichlet draws
    w = a.sample_weights(1000).numpy()
    assert np.allclose(w.sum(1), 1, atol=1e-5)
    # concentration 0.0156: the draws are nearly one-hot (SHADE's "sparse" mixtures)
    assert np.median(w.max(1)) > 0.9


def test_options_are_the_conf_files_every_key_required():
    """conf/model/shade/ is the one home of the values: every key is required, a missing or
    unknown one names it and the file; None = off."""
    from flexseg.models.shade import shade_options
    from flexseg.utils.config import ConfigError
    from tests.conf_values import shade_values

    values = shade_values()
    assert shade_options(values) == values and shade_options(None) == {"enabled": False}
    with pytest.raises(ConfigError, match=r"missing model\.shade\.interval .*reference\.yaml"):
        shade_options({k: v for k, v in values.items() if k != "interval"})
    with pytest.raises(ConfigError, match=r"unknown model\.shade\.styles"):
        shade_options(values | {"styles": 3})
