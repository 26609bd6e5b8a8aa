"""How a foundation-model backbone is trained: ``model.tuning=full | frozen | lora | rein``
(docs/vfm.md).

* ``full`` — every weight trains (optionally with layer-wise learning-rate decay,
  :func:`layer_decay_scales`);
* ``frozen`` — the backbone's weights are fixed, it runs in eval mode and without
  stored activations, and it is out of the optimizer;
* ``lora`` — low-rank adapters (the ``peft`` library) on the attention and MLP linears of
  the blocks from ``start_block`` on, the rest frozen;
* ``rein`` — the backbone frozen, :class:`~flexseg.models.rein.ReinRefiner` trained.
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping

from torch import nn

__all__ = [
    "TUNING_MODES", "apply_lora", "count_parameters", "layer_decay_scales", "layer_id", "lora_target_names",
]

TUNING_MODES = ("full", "frozen", "lora", "rein")


def lora_target_names(blocks: nn.ModuleList, start_block: int = 0, prefix: str = "blocks") -> list[str]:
    """Full names of the ``nn.Linear`` layers inside the attention (``attn``) and MLP
    (``mlp``) of ``blocks[start_block:]`` (qkv / q,k,v projections, the output projection,
    fc1 / fc1_g, fc1_x / fc2 — whatever the timm family uses).

    Example:
        >>> import timm
        >>> vit = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, depth=2,
        ...                         embed_dim=32, num_heads=2, img_size=28)
        >>> lora_target_names(vit.blocks, start_block=1)
        ['blocks.1.attn.qkv', 'blocks.1.attn.proj', 'blocks.1.mlp.fc1', 'blocks.1.mlp.fc2']
    """
    if not 0 <= start_block < len(blocks):
        raise ValueError(f"lora.start_block={start_block} outside 0..{len(blocks) - 1} (the backbone has {len(blocks)} blocks)")
    names = []
    for i in range(start_block, len(blocks)):
        for name, module in blocks[i].named_modules():
            if isinstance(module, nn.Linear) and name.split(".")[0] in ("attn", "mlp"):
                names.append(f"{prefix}.{i}.{name}")
    return names


def apply_lora(vit: nn.Module, rank: int, alpha: float, dropout: float, start_block: int = 0) -> list[str]:
    """Freeze ``vit`` and inject LoRA adapters (peft ``inject_adapter_in_model``, adapter
    ``default``) into :func:`lora_target_names` of its ``blocks``; returns those names.
    Only the adapters' ``lora_A`` / ``lora_B`` train; B starts at zero, so the network's
    output is unchanged at initialization."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as err:  # pragma: no cover - peft is in make install's extras
        raise ModuleNotFoundError("model.tuning=lora needs the peft package: pip install 'flexseg[vfm]' "
                                  "(make install includes it)") from err
    targets = lora_target_names(vit.blocks, start_block)
    vit.requires_grad_(False)
    config = LoraConfig(r=int(rank), lora_alpha=float(alpha), lora_dropout=float(dropout),
                        target_modules=targets, bias="none")
    inject_adapter_in_model(config, vit)
    for name, p in vit.named_parameters():
        p.requires_grad_("lora_" in name)
    return targets


_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)\.")


def layer_id(name: str, depth: int) -> int:
    """Layer of a backbone parameter for layer-wise lr decay (BEiT / ViTDet convention):
    embeddings (patch, position, class / register tokens) 0, ``blocks.i`` i + 1,
    everything after the blocks (final norm) depth + 1.

    Example:
        >>> [layer_id(n, 24) for n in ("vit.cls_token", "vit.blocks.0.attn.qkv.weight", "vit.blocks.23.mlp.fc2.bias",
        ...                             "vit.norm.weight")]
        [0, 1, 24, 25]
    """
    m = _BLOCK.search(name)
    if m:
        return int(m.group(1)) + 1
    if any(k in name for k in ("patch_embed", "pos_embed", "cls_token", "reg_token", "rope")):
        return 0
    return depth + 1


def layer_decay_scales(named: Iterable[tuple[str, nn.Parameter]], depth: int, decay: float) -> dict[str, float]:
    """lr multiplier ``decay ** (depth + 1 − layer_id)`` of every named parameter
    (:func:`layer_id`): the last layers keep the base lr, the embeddings get the smallest.

    Example:
        >>> import torch
        >>> ps = [("blocks.1.w", torch.nn.Parameter(torch.zeros(1))), ("pos_embed", torch.nn.Parameter(torch.zeros(1)))]
        >>> layer_decay_scales(ps, depth=2, decay=0.5)
        {'blocks.1.w': 0.5, 'pos_embed': 0.125}
    """
    if not 0.0 < decay <= 1.0:
        raise ValueError(f"layer_decay must be in (0, 1], got {decay}")
    return {name: float(decay ** (depth + 1 - layer_id(name, depth))) for name, _ in named}


def count_parameters(module: nn.Module) -> dict[str, int]:
    """``{"trainable": n, "total": n}`` parameter counts (meta tensors count too)."""
    total = trainable = 0
    for p in module.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return {"trainable": trainable, "total": total}


def format_counts(counts: Mapping[str, int]) -> str:
    """``'2,530,817 of 306,729,473 parameters trainable (0.83 %)'``."""
    share = 100.0 * counts["trainable"] / max(counts["total"], 1)
    return f"{counts['trainable']:,} of {counts['total']:,} parameters trainable ({share:.2f} %)"
