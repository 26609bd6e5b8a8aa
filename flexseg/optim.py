"""AdamW parameter groups and the poly learning-rate schedule with linear warm-up
(mmseg's ``poly`` policy with ``warmup='linear'``, as in DAFormer/HRDA).

The values live in ``conf/optim/`` (docs/config.md): Hydra builds the AdamW partial
(``optim.optimizer``), the group rule :class:`ParamGroups` (``optim.param_groups``) and
the scheduler partial :func:`poly_warmup_scheduler` (``optim.scheduler``);
:class:`~flexseg.module.SegModule` completes them with the parameters and the run length.

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

__all__ = [
    "DECAY_RULES", "REFERENCE_NO_DECAY_KEYS", "HEAD_KEY", "ParamGroups", "build_optimizer", "mmcv_multipliers",
    "param_groups", "poly_warmup_factor", "poly_warmup_scheduler",
]

DECAY_RULES = ("mmcv", "ndim")
#: the reference's ``custom_keys`` with ``decay_mult=0`` (DGInStyle-SegModel experiments.py)
REFERENCE_NO_DECAY_KEYS = ("norm", "pos_block")
#: name of the reference key with ``lr_mult=10``
HEAD_KEY = "head"


def poly_warmup_factor(
    step: int,
    max_steps: int,
    warmup_steps: int,
    power: float,
    warmup_ratio: float,
    min_lr_ratio: float,
) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    poly: ``(1 − min)·(1 − step/max_steps)^power + min``; during the first
    ``warmup_steps`` it is further scaled by ``1 − (1 − step/warmup)·(1 − warmup_ratio)``.

    Args:
        step: optimizer steps done.
        max_steps: the run length (``trainer.max_steps``), > 0.
        warmup_steps: linear warm-up length (0 = none).
        power: poly exponent.
        warmup_ratio: factor at step 0 of the warm-up.
        min_lr_ratio: the poly floor, as a fraction of the base lr.

    Returns:
        the factor, in [0, 1].

    Example:
        >>> poly_warmup_factor(20000, 40000, 1500, 1.0, 1e-6, 0.0)
        0.5
        >>> round(poly_warmup_factor(0, 40000, 1500, 1.0, 1e-6, 0.0), 12)  # the warm-up starts at warmup_ratio
        1e-06
    """
    if max_steps <= 0:
        raise ValueError(f"max_steps must be positive, got {max_steps}")
    progress = min(step, max_steps) / max_steps
    factor = (1.0 - min_lr_ratio) * (1.0 - progress) ** power + min_lr_ratio
    if warmup_steps > 0 and step < warmup_steps:
        factor *= 1.0 - (1.0 - step / warmup_steps) * (1.0 - warmup_ratio)
    return factor


def poly_warmup_scheduler(
    optimizer: torch.optim.Optimizer,
    max_steps: int,
    *,
    warmup_steps: int,
    power: float,
    warmup_ratio: float,
    min_lr_ratio: float,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step ``LambdaLR`` of :func:`poly_warmup_factor`; Hydra builds it as a partial
    (``optim.scheduler``, ``_partial_: true``) and the module passes the optimizer and
    ``trainer.max_steps``.

    Args:
        optimizer: the optimizer whose groups' ``lr`` it scales.
        max_steps: the run length.
        warmup_steps, power, warmup_ratio, min_lr_ratio: as :func:`poly_warmup_factor`.

    Returns:
        the scheduler (step it once per optimizer step).

    Example:
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = poly_warmup_scheduler(opt, 4, warmup_steps=0, power=1.0, warmup_ratio=1e-6, min_lr_ratio=0.0)
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> lrs
        [1.0, 0.75, 0.5, 0.25]
    """

    def factor(step: int) -> float:  # a function, not a callable object: LambdaLR saves no state of it
        return poly_warmup_factor(step, max_steps, warmup_steps, power, warmup_ratio, min_lr_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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


def _check_decay_rule(decay_rule: str) -> None:
    if decay_rule not in DECAY_RULES:
        raise ValueError(f"decay_rule must be one of {DECAY_RULES}, got {decay_rule!r}")


def param_groups(
    encoder_params: Iterable[tuple[str, nn.Parameter]],
    head_params: Iterable[tuple[str, nn.Parameter]],
    lr: float,
    head_lr_mult: float,
    weight_decay: float,
    decay_rule: str,
    no_decay_keys: Sequence[str],
    lr_scales: Mapping[str, float] | None = None,
) -> list[dict]:
    """AdamW groups {encoder (lr), head (lr·head_lr_mult)} × {decayed, not decayed}.

    ``decay_rule="ndim"``: 1-d tensors and biases get no weight decay.
    ``decay_rule="mmcv"``: the reference rule (module doc) with custom keys
    ``head`` (lr ×head_lr_mult; every ``head_params`` name counts as containing it) and
    ``no_decay_keys`` (decay ×0). Frozen parameters (``requires_grad=False``) are left out.
    Empty groups are dropped; group order: encoder decayed, encoder not, head decayed, head not.

    ``lr_scales`` (name → multiplier, e.g. layer-wise lr decay of a ViT backbone,
    :func:`flexseg.models.tuning.layer_decay_scales`) splits the encoder's groups further:
    one decayed / not-decayed pair per distinct multiplier (in order of first appearance),
    each with ``lr·multiplier`` and ``lr_scale`` recorded; names not listed keep 1. Without
    it (None or empty) the groups are exactly those above.
    """
    _check_decay_rule(decay_rule)
    custom = {HEAD_KEY: {"lr_mult": head_lr_mult}}
    custom.update({k: {"decay_mult": 0.0} for k in no_decay_keys})
    groups: list[dict] = []
    scales = dict(lr_scales or {})
    for params, is_head in ((encoder_params, False), (head_params, True)):
        # (scale → [decayed, not decayed]); one scale (1.0) unless lr_scales splits the encoder
        buckets: dict[float, tuple[list, list]] = {}
        for name, p in params:
            if not p.requires_grad:
                continue
            decay, no_decay = buckets.setdefault(1.0 if is_head else float(scales.get(name, 1.0)), ([], []))
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
        for scale, (decay, no_decay) in buckets.items():
            extra = {"lr_scale": scale} if scales and not is_head else {}
            if decay:
                groups.append({"params": decay, "lr": lr * mult * scale, "weight_decay": weight_decay, **extra})
            if no_decay:
                groups.append({"params": no_decay, "lr": lr * mult * scale, "weight_decay": 0.0, **extra})
    return groups


class ParamGroups:
    """The parameter-group rule of ``optim.param_groups`` (built by Hydra; the base lr and
    weight decay come from the optimizer partial, ``optim.optimizer``).

    Args:
        head_lr_mult: lr multiplier of the head parameters (decode head(s), GAP projection).
        decay_rule: ``mmcv`` or ``ndim`` (module doc).
        no_decay_keys: name substrings with no weight decay under ``mmcv``.

    Example:
        >>> enc, head = nn.Linear(2, 2), nn.Linear(2, 1)
        >>> rule = ParamGroups(head_lr_mult=10.0, decay_rule="ndim", no_decay_keys=["norm"])
        >>> groups = rule(enc.named_parameters(), head.named_parameters(), lr=1e-3, weight_decay=0.01)
        >>> [(len(g["params"]), g["lr"], g["weight_decay"]) for g in groups]
        [(1, 0.001, 0.01), (1, 0.001, 0.0), (1, 0.01, 0.01), (1, 0.01, 0.0)]
    """

    def __init__(self, head_lr_mult: float, decay_rule: str, no_decay_keys: Sequence[str]) -> None:
        _check_decay_rule(decay_rule)
        self.head_lr_mult, self.decay_rule, self.no_decay_keys = head_lr_mult, decay_rule, tuple(no_decay_keys)

    def __call__(
        self,
        encoder_params: Iterable[tuple[str, nn.Parameter]],
        head_params: Iterable[tuple[str, nn.Parameter]],
        lr: float,
        weight_decay: float,
        lr_scales: Mapping[str, float] | None = None,
    ) -> list[dict]:
        """:func:`param_groups` of the named parameters with this rule."""
        return param_groups(encoder_params, head_params, lr, self.head_lr_mult, weight_decay,
                            self.decay_rule, self.no_decay_keys, lr_scales)

    def __repr__(self) -> str:
        return (f"ParamGroups(head_lr_mult={self.head_lr_mult}, decay_rule={self.decay_rule!r}, "
                f"no_decay_keys={list(self.no_decay_keys)})")


def build_optimizer(groups: list[dict], lr: float, betas: Sequence[float], eps: float) -> torch.optim.Optimizer:
    """``AdamW(groups, lr, betas, eps)``; the module takes the optimizer as a Hydra partial
    (``optim.optimizer``) instead."""
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps)
