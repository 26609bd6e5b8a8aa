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


# ---------------------------------------------------------------------------------------------
# StyleHallucination.forward from an independent statement of what it must do (issue 29: a
# swap of proto_mean / proto_std at the call site passed every test above). The statement:
# the module's Dirichlet draws are NumPy's default_rng(seed).dirichlet(concentration·1_K,
# size=B), one call per forward; the output is [x; x_new] with x unchanged, and each
# image b, channel c of x_new has mean Σ_k w_bk·proto_mean[k,c] and standard deviation
# Σ_k w_bk·proto_std[k,c] (up to the 1e-7 added to the std of x).


def _predicted_draws(seed, k, concentration, batches):
    """The weights [B,K] of each forward of StyleHallucination(seed=seed), in order."""
    rng = np.random.default_rng(seed)
    return [rng.dirichlet([concentration] * k, size=b).tolist() for b in batches]


def _channel_stats(t):
    """(mean, unbiased std) of each [b, c] plane, by loops in float64."""
    out = []
    for b in range(t.shape[0]):
        row = []
        for c in range(t.shape[1]):
            vals = t[b, c].double().flatten().tolist()
            m = sum(vals) / len(vals)
            row.append((m, math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))))
        out.append(row)
    return out


def _expected_stats(w, pm, ps):
    return [[(sum(w[b][k] * pm[k][c] for k in range(len(pm))), sum(w[b][k] * ps[k][c] for k in range(len(ps))))
             for c in range(len(pm[0]))] for b in range(len(w))]


def _assert_stats(got, expected, rel=1e-4, abs_=1e-4):
    for row_g, row_e in zip(got, expected, strict=True):
        for (m, s), (em, es) in zip(row_g, row_e, strict=True):
            assert m == pytest.approx(em, rel=rel, abs=abs_) and s == pytest.approx(es, rel=rel, abs=abs_)


def _styles(k, c, seed=0):
    """Base styles whose means (around 3) and stds (0.2 … 0.7) cannot be mistaken for each other."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, c, generator=g) + 3.0, torch.rand(k, c, generator=g) * 0.5 + 0.2


@pytest.mark.parametrize("concentration", [0.7, 0.0156])
def test_forward_hallucinated_half_has_the_predicted_mixture_of_base_styles(concentration):
    k, c, seed = 5, 4, 11
    sh = StyleHallucination(c, k, concentration, seed=seed)
    pm, ps = _styles(k, c)
    sh.set_styles(pm, ps)
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(3, c, 6, 7, generator=g) * 2 - 1
    x2 = torch.randn(2, c, 5, 5, generator=g) * 0.5 + 4
    draws = _predicted_draws(seed, k, concentration, [3, 2])
    for x, w in ((x1, draws[0]), (x2, draws[1])):  # the second forward takes the generator's next draw
        out = sh(x)
        b = x.shape[0]
        assert out.shape == (2 * b, *x.shape[1:])
        assert torch.equal(out[:b], x)  # the originals first, unchanged
        _assert_stats(_channel_stats(out[b:]), _expected_stats(w, pm.tolist(), ps.tolist()))
    # the hallucinated half keeps each plane's pattern: x_new = a·x + b per (image, channel), a > 0
    again = StyleHallucination(c, k, concentration, seed=seed)
    again.set_styles(pm, ps)
    new = again(x1)[3:]
    for b in range(3):
        for ch in range(c):
            corr = torch.corrcoef(torch.stack([x1[b, ch].flatten(), new[b, ch].flatten()]))[0, 1]
            assert corr.item() == pytest.approx(1.0, abs=1e-5)


def test_forward_draws_follow_the_seed_and_the_configured_concentration():
    """Two seeds or two concentrations give other weights, each the predicted one."""
    k, c = 4, 3
    pm, ps = _styles(k, c, seed=2)
    x = torch.randn(2, c, 4, 4, generator=torch.Generator().manual_seed(4))
    for seed, conc in ((0, 1.0), (5, 1.0), (5, 3.0)):
        sh = StyleHallucination(c, k, conc, seed=seed)
        sh.set_styles(pm, ps)
        [w] = _predicted_draws(seed, k, conc, [2])
        _assert_stats(_channel_stats(sh(x)[2:]), _expected_stats(w, pm.tolist(), ps.tolist()))
        assert np.allclose(sh.sample_weights(2).numpy(), _predicted_draws(seed, k, conc, [2, 2])[1], atol=1e-6)
