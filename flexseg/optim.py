"""AdamW parameter groups and the poly learning-rate schedule with linear warm-up
(mmseg's ``poly`` policy with ``warmup='linear'``, as in DAFormer/HRDA).

Two weight-decay rules (``decay_rule``; docs/recipe.md):

* ``mmcv`` — the reference (mmcv's ``DefaultOptimizerConstructor`` with
  ``paramwise_cfg.custom_keys = {head: lr_mult 10, pos_block: decay_mult 0, norm:
  decay_mult 0}``): the keys are tried longest first (ties alphabetical) and only the
  first key contained in the parameter's name applies. So encoder norms get no decay,
  every head parameter (BatchNorm and biases included) and every encoder bias is decayed.
* ``ndim`` — FlexSeg's earlier rule, kept for the embedded synthdrive default (its
  committed results): no decay on 1-d tensors and biases.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

DECAY_RULES = ("mmcv", "ndim")
#: the reference's ``custom_keys`` with ``decay_mult=0`` (DGInStyle-SegModel experiments.py)
REFERENCE_NO_DECAY_KEYS = ("norm", "pos_block")
#: name of the reference key with ``lr_mult=10``
HEAD_KEY = "head"


def poly_warmup_factor(
    step: int,
    max_steps: int,
    warmup_steps: int = 1500,
    power: float = 1.0,
    warmup_ratio: float = 1e-6,
    min_lr_ratio: float = 0.0,
) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    poly: ``(1 − min)·(1 − step/max_steps)^power + min``; during the first
    ``warmup_steps`` it is further scaled by ``1 − (1 − step/warmup)·(1 − warmup_ratio)``.
    """
    if max_steps <= 0:
        raise ValueError(f"max_steps must be positive, got {max_steps}")
    progress = min(step, max_steps) / max_steps
    factor = (1.0 - min_lr_ratio) * (1.0 - progress) ** power + min_lr_ratio
    if warmup_steps > 0 and step < warmup_steps:
        factor *= 1.0 - (1.0 - step / warmup_steps) * (1.0 - warmup_ratio)
    return factor


def mmcv_multipliers(name: str, custom_keys: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
    """(lr_mult, decay_mult) of parameter ``name`` under mmcv's ``custom_keys`` rule:
    keys sorted by length (longest first, ties alphabetical); the first key that is a
    substring of ``name`` applies; (1, 1) when none does."""
    for key in sorted(sorted(custom_keys), key=len, reverse=True):
        if key in name:
            opts = custom_keys[key]
            return float(opts.get("lr_mult", 1.0)), float(opts.get("decay_mult", 1.0))
    return 1.0, 1.0


def _is_no_decay_ndim(name: str, param: nn.Parameter) -> bool:
    return param.ndim <= 1 or name.endswith(".bias")


def param_groups(
    encoder_params: Iterable[tuple[str, nn.Parameter]],
    head_params: Iterable[tuple[str, nn.Parameter]],
    lr: float,
    head_lr_mult: float = 10.0,
    weight_decay: float = 0.01,
    norm_bias_decay: float = 0.0,
    decay_rule: str = "ndim",
    no_decay_keys: Sequence[str] = REFERENCE_NO_DECAY_KEYS,
) -> list[dict]:
    """AdamW groups {encoder (lr), head (lr·head_lr_mult)} × {decayed, not decayed}.

    ``decay_rule="ndim"``: 1-d tensors and biases get ``norm_bias_decay``.
    ``decay_rule="mmcv"``: the reference rule (module doc) with custom keys
    ``head`` (lr ×head_lr_mult; every ``head_params`` name counts as containing it) and
    ``no_decay_keys`` (decay ×0). Frozen parameters (``requires_grad=False``) are left out.
    Empty groups are dropped; group order: encoder decayed, encoder not, head decayed, head not.
    """
    if decay_rule not in DECAY_RULES:
        raise ValueError(f"decay_rule must be one of {DECAY_RULES}, got {decay_rule!r}")
    custom = {HEAD_KEY: {"lr_mult": head_lr_mult}}
    custom.update({k: {"decay_mult": 0.0} for k in no_decay_keys})
    groups: list[dict] = []
    for params, is_head in ((encoder_params, False), (head_params, True)):
        decay, no_decay = [], []
        for name, p in params:
            if not p.requires_grad:
                continue
            if decay_rule == "ndim":
                (no_decay if _is_no_decay_ndim(name, p) else decay).append(p)
                continue
            full = f"{HEAD_KEY}.{name}" if is_head and HEAD_KEY not in name else name
            if not is_head and HEAD_KEY in name:
                raise ValueError(f"encoder parameter {name!r} contains {HEAD_KEY!r}: the mmcv rule would treat it as head")
            lr_mult, decay_mult = mmcv_multipliers(full, custom)
            if lr_mult != (head_lr_mult if is_head else 1.0):
                raise ValueError(f"parameter {name!r}: key {HEAD_KEY!r} shadowed by a longer custom key")
            (decay if decay_mult != 0.0 else no_decay).append(p)
        mult = head_lr_mult if is_head else 1.0
        no_decay_wd = norm_bias_decay if decay_rule == "ndim" else 0.0
        if decay:
            groups.append({"params": decay, "lr": lr * mult, "weight_decay": weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr * mult, "weight_decay": no_decay_wd})
    return groups


def build_optimizer(groups: list[dict], lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps)
