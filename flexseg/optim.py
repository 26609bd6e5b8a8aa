"""AdamW parameter groups and the poly learning-rate schedule with linear warm-up
(mmseg's ``poly`` policy with ``warmup='linear'``, as in DAFormer/HRDA)."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


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


def _is_no_decay(name: str, param: nn.Parameter) -> bool:
    return param.ndim <= 1 or name.endswith(".bias")


def param_groups(
    encoder_params: Iterable[tuple[str, nn.Parameter]],
    head_params: Iterable[tuple[str, nn.Parameter]],
    lr: float,
    head_lr_mult: float = 10.0,
    weight_decay: float = 0.01,
    norm_bias_decay: float = 0.0,
) -> list[dict]:
    """Four AdamW groups: {encoder, head} × {weights, norm/bias (decay ``norm_bias_decay``)}."""
    groups: list[dict] = []
    for params, mult in ((encoder_params, 1.0), (head_params, head_lr_mult)):
        decay, no_decay = [], []
        for name, p in params:
            if p.requires_grad:
                (no_decay if _is_no_decay(name, p) else decay).append(p)
        if decay:
            groups.append({"params": decay, "lr": lr * mult, "weight_decay": weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr * mult, "weight_decay": norm_bias_decay})
    return groups


def build_optimizer(groups: list[dict], lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps)
