"""Uniform batch sampler with the same stream/resume semantics as HAS.

The training set is read as one infinite stream of batches (epoch ``e`` is a seeded
permutation); ``__iter__`` resumes at the number of batches consumed so far, so a run
restored from a checkpoint sees exactly the batches the uninterrupted run would have.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch


class UniformBatchSampler:
    """Seeded shuffling batch sampler (without replacement within an epoch).

    Under DDP every rank computes the same global batch of ``batch_size·world_size``
    indices and yields its own contiguous slice. ``update(indices, losses)`` is called
    by the training loop once per consumed batch (losses are ignored here).
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if num_samples < 1 or batch_size < 1:
            raise ValueError(f"need num_samples ≥ 1 and batch_size ≥ 1, got {num_samples}, {batch_size}")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.global_batch = batch_size * world_size
        self.consumed = 0
        self._perm_epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        return max(1, self.num_samples // self.global_batch)

    def _global_batch(self, position: int) -> torch.Tensor:
        per_epoch = len(self)
        epoch, j = divmod(position, per_epoch)
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            reps = -(-per_epoch * self.global_batch // self.num_samples)
            self._perm = torch.cat([torch.randperm(self.num_samples, generator=g) for _ in range(reps)])
            self._perm_epoch = epoch
        return self._perm[j * self.global_batch : (j + 1) * self.global_batch]

    @property
    def yield_pos(self) -> int:
        """Stream position of the next batch a new iterator yields."""
        return self.consumed

    def __iter__(self) -> Iterator[list[int]]:
        start = self.consumed
        end = (start // len(self) + 1) * len(self)
        for position in range(start, end):
            batch = self._global_batch(position)
            yield batch[self.rank * self.batch_size : (self.rank + 1) * self.batch_size].tolist()

    def update(self, indices: Sequence[int] | torch.Tensor, losses: Sequence[float] | torch.Tensor | None = None) -> None:
        self.consumed += 1

    def state_dict(self) -> dict:
        return {"consumed": self.consumed, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.consumed, self.seed = int(state["consumed"]), int(state["seed"])
        self._perm_epoch = -1
