"""``RandomFlip``: horizontal flip of a sample's image and label, drawn from a given generator."""
from __future__ import annotations

import torch

__all__ = ["RandomFlip"]

class RandomFlip:
    """Horizontal flip of ``image`` [3,H,W] and ``label`` [H,W] with probability ``p``
    (draws from the ``generator`` the datamodule passes, for reproducible augmentation).

    Args:
        p: flip probability in [0, 1].

    Shape:
        - image: :math:`(3, H, W)`.
        - label: :math:`(H, W)`.

    Example:
        >>> sample = {"image": torch.arange(6).reshape(1, 2, 3), "label": torch.arange(6).reshape(2, 3)}
        >>> out = RandomFlip(p=1.0)(sample, generator=torch.Generator().manual_seed(0))
        >>> out["label"].tolist(), sample["label"].tolist()  # a new dict; the input is unchanged
        ([[2, 1, 0], [5, 4, 3]], [[0, 1, 2], [3, 4, 5]])
        >>> RandomFlip(p=0.0)(sample) is sample
        True
    """

    accepts_generator = True

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        """Flip ``sample`` (one uniform draw from ``generator``); returns a new dict when flipped."""
        if torch.rand((), generator=generator).item() < self.p:
            sample = dict(sample)
            sample["image"] = sample["image"].flip(-1)
            sample["label"] = sample["label"].flip(-1)
        return sample
