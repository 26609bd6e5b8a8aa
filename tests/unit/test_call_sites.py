"""Call sites: where a value tested alone flows through the code that uses it (issue 29).

Each test here checks, from an independent statement of what the calling code must do,
that the caller hands its values to the tested function in the right places: a swapped,
dropped or defaulted argument at the call site makes one of them fail. The planted bugs
each test was checked against are listed in docs/testing.md ("Call-site tests").
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from flexseg.models.daformer import DAFormer
from flexseg.models.hrda import HRDA
from tests.conf_values import shade_values


def _plane_stats(t: torch.Tensor) -> torch.Tensor:
    """[B,C,2]: (mean, unbiased std) of each plane, in float64."""
    t = t.double()
    return torch.stack([t.mean(dim=(2, 3)), t.std(dim=(2, 3))], dim=-1)


def _predicted_mixture(seed: int, k: int, concentration: float, batch: int, pm: torch.Tensor, ps: torch.Tensor):
    """Channel (mean, std) [B,C,2] SHADE must give the hallucinated half on the first draw of seed."""
    w = torch.from_numpy(np.random.default_rng(seed).dirichlet([concentration] * k, size=batch))
    return torch.stack([w @ pm.double(), w @ ps.double()], dim=-1)


@pytest.mark.parametrize("arch", ["daformer", "hrda"])
def test_network_passes_shade_options_and_seed_to_the_stage1_hallucination(arch):
    """model.shade's num_styles and concentration and the network's seed reach SHADE; the
    encoder hallucinates its stage-1 map (originals first) and the later stages see [x; x_new]."""
    k, conc, seed = 6, 0.5, 9
    opts = shade_values(num_styles=k, concentration=conc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if arch == "daformer":
            net = DAFormer("mit_b0", num_classes=3, embed_dim=8, dilations=(1,), shade=opts, seed=seed)
        else:
            net = HRDA("mit_b0", num_classes=3, hr_crop_size=32, slide_window=None, embed_dim=8, attention_embed_dim=8,
                       dilations=(1,), shade=opts, seed=seed)
    sh = net.backbone.style_hallucination
    assert (sh.num_styles, sh.concentration, sh.channels) == (k, conc, net.backbone.out_channels[0])
    g = torch.Generator().manual_seed(0)
    pm, ps = torch.randn(k, sh.channels, generator=g) + 3.0, torch.rand(k, sh.channels, generator=g) * 0.5 + 0.2
    sh.set_styles(pm, ps)
    net.train()
    x = torch.randn(2, 3, 64, 64, generator=g)
    torch.manual_seed(1)
    feats = net.backbone(x)
    torch.manual_seed(1)  # the same drop-path draws: SHADE draws from its own NumPy generator
    stage1 = net.backbone.stage1(x)
    assert [f.shape[0] for f in feats] == [4, 4, 4, 4]
    assert torch.allclose(feats[0][:2], stage1, atol=1e-6)
    assert torch.allclose(_plane_stats(feats[0][2:]), _predicted_mixture(seed, k, conc, 2, pm, ps), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(feats[-1][:2], feats[-1][2:], atol=1e-3)  # the later stages see the new styles
    net.eval()
    assert [f.shape[0] for f in net.backbone(x)] == [2, 2, 2, 2]  # evaluation: no hallucination
