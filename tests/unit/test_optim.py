import pytest
from torch import nn

from flexseg.optim import param_groups, poly_warmup_factor


def test_poly_schedule_reference_values():
    # mmseg poly (power 1, min 0) with linear warm-up (ratio 1e-6) over 1500 of 40000 steps
    assert poly_warmup_factor(0, 40000, 1500) == pytest.approx(1e-6)
    assert poly_warmup_factor(750, 40000, 1500) == pytest.approx((1 - 750 / 40000) * (1 - 0.5 * (1 - 1e-6)))
    assert poly_warmup_factor(1500, 40000, 1500) == pytest.approx(1 - 1500 / 40000)
    assert poly_warmup_factor(20000, 40000, 1500) == pytest.approx(0.5)
    assert poly_warmup_factor(40000, 40000, 1500) == pytest.approx(0.0)
    assert poly_warmup_factor(100, 200, 0, power=2.0) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        poly_warmup_factor(0, 0)


def test_param_groups_head_lr_and_no_decay_on_norm_and_bias():
    enc, head = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), nn.Linear(4, 2)
    groups = param_groups(enc.named_parameters(), head.named_parameters(), lr=1e-3, head_lr_mult=10, weight_decay=0.01)
    by = {(g["lr"], g["weight_decay"]): sum(p.numel() for p in g["params"]) for g in groups}
    assert by[(1e-3, 0.01)] == 4 * 3 * 3 * 3          # conv weight
    assert by[(1e-3, 0.0)] == 4 + 4 + 4                 # conv bias + BN weight/bias
    assert by[(1e-2, 0.01)] == 8                        # head weight, ×10 lr
    assert by[(1e-2, 0.0)] == 2                         # head bias


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
