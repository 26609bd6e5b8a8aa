"""Optimizer tests written against the mutants that survived ``make mutation`` (docs/testing.md).

They pin what tests/unit/test_optim.py left open: the poly floor ``min_lr_ratio`` > 0,
warm-up of one step, a run of one step, biases that are not 1-d under the ``ndim`` rule,
frozen parameters in the middle of a group, and :func:`build_optimizer`'s arguments.
Expected values are computed here by hand.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from flexseg.optim import ParamGroups, build_optimizer, param_groups, poly_warmup_factor


def _poly(step, max_steps, warmup, power, ratio, floor):
    f = (1 - floor) * (1 - min(step, max_steps) / max_steps) ** power + floor
    return f * (1 - (1 - step / warmup) * (1 - ratio)) if warmup > 0 and step < warmup else f


@pytest.mark.parametrize("args", [(0, 100, 0, 1.0, 1e-6, 0.1), (50, 100, 0, 0.9, 1e-6, 0.25), (100, 100, 0, 1.0, 1e-6, 0.1),
                                  (0, 100, 1, 1.0, 0.1, 0.0), (1, 100, 1, 1.0, 0.1, 0.0), (0, 1, 0, 1.0, 1e-6, 0.0),
                                  (3, 1, 0, 1.0, 1e-6, 0.2), (5, 100, 10, 1.0, 0.1, 0.3)])
def test_poly_warmup_factor_with_a_floor_short_warmup_and_one_step(args):
    assert poly_warmup_factor(*args) == pytest.approx(_poly(*args), rel=1e-12, abs=1e-15)
    with pytest.raises(ValueError, match="max_steps"):
        poly_warmup_factor(0, 0, 0, 1.0, 1e-6, 0.0)


class _Odd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2, 2))
        self.frozen = nn.Parameter(torch.zeros(3, 3), requires_grad=False)
        self.table = nn.Module()
        self.table.bias = nn.Parameter(torch.zeros(2, 3))  # a 2-d "bias" (e.g. a relative position table)
        self.v = nn.Parameter(torch.zeros(4, 4))


@pytest.mark.parametrize("rule", ["ndim", "mmcv"])
def test_frozen_parameters_are_skipped_not_the_rest_and_biases_of_any_rank(rule):
    enc, head = _Odd(), _Odd()
    groups = param_groups(enc.named_parameters(), head.named_parameters(), 1e-3, 10.0, 0.01, rule, ("norm",))
    placed = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert id(enc.frozen) not in placed and id(head.frozen) not in placed
    wd_bias = 0.0 if rule == "ndim" else 0.01  # ndim: no decay on biases of any rank; mmcv decays them
    for m, lr in ((enc, 1e-3), (head, 1e-2)):
        assert placed[id(m.w)] == pytest.approx((lr, 0.01)) and placed[id(m.v)] == pytest.approx((lr, 0.01))
        assert placed[id(m.table.bias)] == pytest.approx((lr, wd_bias))


def test_build_optimizer_passes_groups_lr_betas_eps():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))
    opt = build_optimizer([{"params": [a], "weight_decay": 0.0}, {"params": [b], "lr": 0.5, "weight_decay": 0.2}],
                          lr=2e-3, betas=[0.8, 0.95], eps=1e-6)
    assert isinstance(opt, torch.optim.AdamW)
    g0, g1 = opt.param_groups
    assert g0["params"] == [a] and g1["params"] == [b]
    assert (g0["lr"], g0["betas"], g0["eps"], g0["weight_decay"]) == (2e-3, (0.8, 0.95), 1e-6, 0.0)
    assert (g1["lr"], g1["betas"], g1["weight_decay"]) == (0.5, (0.8, 0.95), 0.2)


def test_mmcv_rule_messages_and_repr():
    enc, head = nn.Linear(2, 2), nn.Linear(2, 2)
    named = [("x.head.weight", enc.weight)]
    with pytest.raises(ValueError, match=r"encoder parameter 'x\.head\.weight' contains 'head': the mmcv rule would treat it as head"):
        param_groups(named, [], 1e-3, 10.0, 0.01, "mmcv", ("norm",))
    with pytest.raises(ValueError, match=r"parameter 'weight': key 'head' shadowed by a longer custom key"):
        param_groups([], head.named_parameters(), 1e-3, 10.0, 0.01, "mmcv", ("head.weight",))
    assert repr(ParamGroups(10.0, "mmcv", ("norm", "pos_block"))) == (
        "ParamGroups(head_lr_mult=10.0, decay_rule='mmcv', no_decay_keys=['norm', 'pos_block'])")
