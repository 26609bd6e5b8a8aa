"""Helpers that make a multi-process (DDP) step equal to one process on the global batch."""
from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["world_size", "rescale_to_global_mean"]


def world_size() -> int:
    """Number of processes of the initialized default group (1 without torch.distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rescale_to_global_mean(local_mean: torch.Tensor, local_count: torch.Tensor | int | float) -> torch.Tensor:
    """Turn a per-process mean over ``local_count`` items into the term whose DDP-averaged
    gradient is the gradient of the mean over all processes' items.

    With R processes, DDP averages gradients: (1/R)·Σ_r ∇L_r. Returning
    ``L_r = local_mean · local_count · R / Σ_r local_count`` makes that Σ_r ∇sum_r / N,
    the single-process gradient of the global batch, even when processes hold different
    numbers of valid pixels. The value averaged over processes is the global mean.
    One scalar all-reduce per call; a no-op (returns ``local_mean``) in a single process.
    """
    R = world_size()
    if R == 1:
        return local_mean
    device = local_mean.device
    if dist.get_backend() == "nccl" and device.type != "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    local = torch.as_tensor(local_count, dtype=torch.float32, device=device).detach().reshape(())
    total = local.clone()
    dist.all_reduce(total)  # no host sync: the factor stays on the device
    factor = local * R / total.clamp_min(1.0)  # 0 where this process has no item (its mean is 0 then)
    return local_mean * factor.to(device=local_mean.device, dtype=local_mean.dtype)
