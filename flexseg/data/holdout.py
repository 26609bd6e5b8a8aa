"""A held-out split of a training set, for source-domain validation (docs/custom_data.md,
"Hyper-parameter search").

Tuning hyper-parameters on the target domains leaks the test set in domain generalization;
the held-out part of the *source* is what a search may optimize. The split is a seeded
permutation of the set's indices (``seed`` independent of the run's seed, so every trial
of a search validates on the same images), or an explicit list of file names.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

__all__ = ["IndexSubset", "split_holdout"]


class IndexSubset(Dataset):
    """``dataset`` restricted to ``indices``; keeps ``image_paths`` (in subset order) and
    ``height``/``width`` so that size checks and rare-class sampling see the subset."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, [int(i) for i in indices]
        paths = getattr(dataset, "image_paths", None)
        if paths is not None:
            self.image_paths = [paths[i] for i in self.indices]
        for key in ("height", "width", "domain"):
            if hasattr(dataset, key):
                setattr(self, key, getattr(dataset, key))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any]:
        sample = dict(self.dataset[self.indices[i]])
        sample["index"] = i
        return sample


def split_holdout(dataset: Dataset, fraction: float = 0.0, seed: int = 0,
                  files: Sequence[str] | None = None, name: str = "source") -> tuple[IndexSubset, IndexSubset]:
    """(train part, held-out part) of ``dataset`` ([N] samples).

    ``files``: image file names (or stems) to hold out — needs ``dataset.image_paths``;
    else ``round(fraction·N)`` indices of a ``seed``-ed permutation (at least 1, at most N−1).
    Raises on a fraction outside (0, 1), names not in the set, or a split leaving a side empty.
    """
    n = len(dataset)  # type: ignore[arg-type]
    if files:
        paths = getattr(dataset, "image_paths", None)
        if paths is None:
            raise ValueError(f"data.val_files: training set {name!r} has no image files to pick from")
        wanted = {str(f) for f in files}
        held = [i for i, p in enumerate(paths) if Path(p).name in wanted or Path(p).stem in wanted]
        found = {Path(paths[i]).name for i in held} | {Path(paths[i]).stem for i in held}
        missing = sorted(wanted - found)
        if missing:
            raise ValueError(f"data.val_files: {len(missing)} name(s) not in training set {name!r}: {missing[:10]}")
    else:
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"data.val_fraction must lie in (0, 1), got {fraction}")
        k = min(max(1, round(fraction * n)), n - 1)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).tolist()
        held = sorted(perm[:k])
    if not held or len(held) >= n:
        raise ValueError(f"held-out split of {name!r} leaves {n - len(held)} training and {len(held)} held-out "
                         "images; both must be ≥ 1")
    held_set = set(held)
    return IndexSubset(dataset, [i for i in range(n) if i not in held_set]), IndexSubset(dataset, held)
