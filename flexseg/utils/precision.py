"""Float32 precision switches shared by the entry points (a library module, so that
submitit can pickle the Hydra task function of ``flexseg.train`` by reference)."""
from __future__ import annotations

import torch

__all__ = ["set_tf32"]


def set_tf32(enabled: bool) -> None:
    """TF32 for float32 matmuls and cuDNN convolutions on Ampere+ GPUs (``tf32`` in
    conf/train.yaml). The paper recipes turn it off: the reference trained in plain fp32
    on GPUs without TF32 (docs/recipe.md). No effect on CPUs."""
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    torch.backends.cudnn.allow_tf32 = enabled
