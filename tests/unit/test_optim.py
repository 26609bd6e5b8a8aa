import hashlib
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from flexseg.optim import ParamGroups, param_groups, poly_warmup_factor, poly_warmup_scheduler

REFERENCE = Path(__file__).with_name("optim_reference.json")


def test_poly_schedule_reference_values():
    # mmseg poly (power 1, min 0) with linear warm-up (ratio 1e-6) over 1500 of 40000 steps
    paper = dict(warmup_steps=1500, power=1.0, warmup_ratio=1e-6, min_lr_ratio=0.0)
    assert poly_warmup_factor(0, 40000, **paper) == pytest.approx(1e-6)
    assert poly_warmup_factor(750, 40000, **paper) == pytest.approx((1 - 750 / 40000) * (1 - 0.5 * (1 - 1e-6)))
    assert poly_warmup_factor(1500, 40000, **paper) == pytest.approx(1 - 1500 / 40000)
    assert poly_warmup_factor(20000, 40000, **paper) == pytest.approx(0.5)
    assert poly_warmup_factor(40000, 40000, **paper) == pytest.approx(0.0)
    assert poly_warmup_factor(100, 200, **(paper | dict(warmup_steps=0, power=2.0))) == pytest.approx(0.25)
    assert poly_warmup_factor(200, 200, **(paper | dict(warmup_steps=0, min_lr_ratio=0.1))) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        poly_warmup_factor(0, 0, **paper)


def test_poly_scheduler_steps_the_factor_and_saves_no_function_state():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [p], "lr": 2.0}], lr=1.0)
    sched = poly_warmup_scheduler(opt, 10, warmup_steps=4, power=1.0, warmup_ratio=0.1, min_lr_ratio=0.0)
    for step in range(10):
        assert opt.param_groups[0]["lr"] == 2.0 * poly_warmup_factor(step, 10, 4, 1.0, 0.1, 0.0)
        opt.step()
        sched.step()
    # a plain function: LambdaLR stores None for it, as the checkpoints written before
    assert sched.state_dict()["lr_lambdas"] == [None]


def test_param_groups_head_lr_and_no_decay_on_norm_and_bias():
    enc, head = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), nn.Linear(4, 2)
    groups = param_groups(enc.named_parameters(), head.named_parameters(), lr=1e-3, head_lr_mult=10,
                          weight_decay=0.01, decay_rule="ndim", no_decay_keys=())
    by = {(g["lr"], g["weight_decay"]): sum(p.numel() for p in g["params"]) for g in groups}
    assert by[(1e-3, 0.01)] == 4 * 3 * 3 * 3          # conv weight
    assert by[(1e-3, 0.0)] == 4 + 4 + 4                 # conv bias + BN weight/bias
    assert by[(1e-2, 0.01)] == 8                        # head weight, ×10 lr
    assert by[(1e-2, 0.0)] == 2                         # head bias


def test_param_groups_rule_checks_its_decay_rule():
    rule = ParamGroups(head_lr_mult=2.0, decay_rule="mmcv", no_decay_keys=["norm"])
    enc, head = nn.ModuleDict({"norm": nn.LayerNorm(3), "proj": nn.Linear(3, 3)}), nn.Linear(3, 1)
    groups = rule(enc.named_parameters(), head.named_parameters(), lr=1e-3, weight_decay=0.05)
    # mmcv: only names containing 'norm' lose their decay (biases keep it); the head's lr ×2
    assert [(len(g["params"]), g["lr"], g["weight_decay"]) for g in groups] == [
        (2, 1e-3, 0.05), (2, 1e-3, 0.0), (2, 2e-3, 0.05)]
    with pytest.raises(ValueError, match="decay_rule"):
        ParamGroups(head_lr_mult=2.0, decay_rule="x", no_decay_keys=[])


def test_mmcv_multipliers_longest_key_first_and_first_match_only():
    from flexseg.optim import mmcv_multipliers

    keys = {"head": {"lr_mult": 10.0}, "norm": {"decay_mult": 0.0}, "pos_block": {"decay_mult": 0.0}}
    assert mmcv_multipliers("backbone.block1.0.norm1.weight", keys) == (1.0, 0.0)
    assert mmcv_multipliers("backbone.block1.0.attn.q.bias", keys) == (1.0, 1.0)  # biases decayed
    # 'head' and 'norm' have the same length: alphabetical order puts 'head' first, and only
    # the first matching key applies — a head parameter named *norm* keeps its decay
    assert mmcv_multipliers("decode_head.x.norm.weight", keys) == (10.0, 1.0)
    # a longer key wins over 'head'
    assert mmcv_multipliers("decode_head.pos_block.weight", keys) == (1.0, 0.0)
    assert mmcv_multipliers("decode_head.conv_seg.bias", keys) == (10.0, 1.0)


def _digest(values) -> str:
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()[:16]


CASES = {
    "synthdrive": [],
    "adamw_poly": ["optim=adamw_poly"],
    "adamw_poly_hrda_fd": ["optim=adamw_poly", "model=hrda_mitb0", "model/feature_distance=things"],
}


@pytest.mark.parametrize("name", list(CASES))
def test_composed_optim_configs_give_the_groups_and_lrs_of_before(name):
    """conf/optim/{synthdrive,adamw_poly}.yaml (optimizer and scheduler partials + the group
    rule) give exactly the parameter groups, AdamW settings and per-step learning rates that
    SegModule(lr=..., head_lr_mult=..., ...) gave before (tests/unit/optim_reference.json)."""
    from flexseg.build import build_module
    from tests.integration.test_configs import compose_cfg

    expected = json.loads(REFERENCE.read_text())[name]
    max_steps = expected["max_steps"]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FD without pretrained weights
        module = build_module(compose_cfg(CASES[name]))
    module._trainer = SimpleNamespace(max_steps=max_steps)
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert conf["lr_scheduler"]["interval"] == "step"
    names = {id(p): n for n, p in module.named_parameters()}
    groups = [{"names": _digest([names[id(p)] for p in g["params"]]), "count": len(g["params"]),
               "numel": sum(p.numel() for p in g["params"]),
               **{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items() if k != "params"}}
              for g in opt.param_groups]
    assert groups == expected["groups"]
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scheduler stepped without optimizer steps
        for _ in range(max_steps + 1):
            lrs.append([g["lr"] for g in opt.param_groups])
            sched.step()
    for step, values in expected["lrs_at"].items():
        assert lrs[int(step)] == values, step
    assert _digest([[repr(v) for v in row] for row in lrs]) == expected["lrs_digest"]
    assert sched.state_dict()["lr_lambdas"] == [None] * len(groups)
