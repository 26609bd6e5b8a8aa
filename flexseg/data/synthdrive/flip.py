"""Flip."""
from __future__ import annotations

import torch


class RandomFlip:
    """Horizontal flip of ``image`` [3,H,W] and ``label`` [H,W] with probability ``p``
    (draws from the ``generator`` the datamodule passes, for reproducible augmentation)."""

    accepts_generator = True

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        if torch.rand((), generator=generator).item() < self.p:
            sample = dict(sample)
            sample["image"] = sample["image"].flip(-1)
            sample["label"] = sample["label"].flip(-1)
        return sample
