"""OmegaConf resolvers of FlexSeg's configs (registered by :mod:`flexseg.utils.conf_dir`,
which every entry point imports).

``${run_stamp:%Y-%m-%d_%H-%M-%S}`` names a run directory: the current time, as Hydra's
``${now:...}``, except inside a SLURM batch job, where it is ``slurm-<job id>`` (array
jobs: ``slurm-<array job id>_<task id>``). A requeued job keeps its SLURM job id, so it
finds its own run directory and continues from its checkpoint (README.md, "Clusters
(SLURM): preemption and requeue").
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import Mapping

from omegaconf import OmegaConf

#: SLURM job names of interactive allocations (``salloc``/``srun --pty bash``): no stable dir there.
INTERACTIVE_JOB_NAMES: frozenset[str] = frozenset({"bash", "interactive", "sh", "zsh"})


def slurm_job_tag(env: Mapping[str, str] | None = None) -> str | None:
    """``slurm-<job id>`` / ``slurm-<array job id>_<task id>`` in a SLURM batch job, else ``None``."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID")
    if not job or env.get("SLURM_JOB_NAME", "") in INTERACTIVE_JOB_NAMES:
        return None
    array_job, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"slurm-{array_job}_{task}"
    return f"slurm-{job}"


def run_stamp(pattern: str) -> str:
    """The run directory's last component: :func:`slurm_job_tag` or the time as ``pattern``."""
    return slurm_job_tag() or datetime.now().strftime(pattern)


def vfm_weights_file(encoder: str) -> str:
    """Default file name of a foundation-model backbone's weights (``conf/model/vfm.yaml``):
    the official DINOv2 release name for the timm DINOv2 names, else ``<encoder>.safetensors``.

    Example:
        >>> vfm_weights_file("vit_large_patch14_dinov2"), vfm_weights_file("vit_giant_patch14_reg4_dinov2")
        ('dinov2_vitl14_pretrain.pth', 'dinov2_vitg14_reg4_pretrain.pth')
        >>> vfm_weights_file("eva02_large_patch14_clip_224")
        'eva02_large_patch14_clip_224.safetensors'
    """
    import re

    m = re.fullmatch(r"vit_(small|base|large|giant)_patch14(_reg4)?_dinov2", str(encoder))
    if m:
        return f"dinov2_vit{m.group(1)[0]}14{m.group(2) or ''}_pretrain.pth"
    return f"{encoder}.safetensors"


def register_resolvers() -> None:
    """Register FlexSeg's resolvers (idempotent). Cached like Hydra's ``now``: every
    reference in one config resolves to the same value."""
    if not OmegaConf.has_resolver("run_stamp"):
        OmegaConf.register_new_resolver("run_stamp", run_stamp, use_cache=True)
    if not OmegaConf.has_resolver("vfm_weights_file"):
        OmegaConf.register_new_resolver("vfm_weights_file", vfm_weights_file)
