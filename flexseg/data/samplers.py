"""Stream batch samplers: the declared contract, and the uniform one.

The training set is read as one infinite stream of global batches (``batch_size ·
world_size`` indices each); an epoch is ``len(sampler)`` consecutive batches, each rank
yields its contiguous slice of every global batch, and ``state_dict`` lets a resumed run
draw exactly the batches the uninterrupted run would have. :class:`StreamBatchSampler`
declares what the training loader (:class:`~flexseg.data.datamodule.SeededBatches`) and
the datamodule use; :class:`LossFeedbackSampler` adds ``update(indices, losses)``, called
once per training step by :class:`~flexseg.data.feedback.SamplerFeedback`;
:class:`HardnessDiagnostics` is what that callback logs (``flex/has_threshold``,
``flex/has_hard_fraction``). :class:`UniformBatchSampler` (HAS off) and
:class:`~flexseg.flex.has.HardnessAwareSampler` (HAS on) satisfy the first two. See
docs/has.md ("The sampler contract").
"""
from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

import torch

__all__ = ["StreamBatchSampler", "LossFeedbackSampler", "HardnessDiagnostics", "UniformBatchSampler",
           "feed_back", "missing_members"]


@runtime_checkable
class StreamBatchSampler(Protocol):
    """A resumable stream of global batches, read one rank's slice at a time.

    Attributes:
        batch_size: indices per yielded batch (this rank's share of a global batch).
        rank: this process's rank; it yields slots ``[rank·batch_size, (rank+1)·batch_size)``
            of every global batch.
        world_size: number of ranks; a global batch holds ``batch_size·world_size`` indices.
        yield_pos: stream position of the next batch a new iterator yields (it keys the
            augmentation seeds and rare-class draws of :class:`~flexseg.data.datamodule.SeededBatches`).

    ``len()`` is the number of batches per epoch; ``iter()`` yields lists of
    ``batch_size`` indices from ``yield_pos`` up to the end of the current epoch;
    ``hard_mask(position)`` tells which slots of the global batch at ``position`` were
    difficulty-weighted draws (None: none, or not known); ``state_dict`` /
    ``load_state_dict`` save and restore the stream.

    Example:
        >>> isinstance(UniformBatchSampler(10, 2), StreamBatchSampler)
        True
        >>> isinstance([[0, 1], [2, 3]], StreamBatchSampler)  # a list of batches is not a stream
        False
    """

    batch_size: int
    rank: int
    world_size: int
    yield_pos: int

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[list[int]]: ...

    def hard_mask(self, position: int) -> list[bool] | None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class LossFeedbackSampler(StreamBatchSampler, Protocol):
    """A stream batch sampler told, once per training step, which batch was consumed and
    the per-image training losses of its images.

    ``update(indices, losses)`` takes this rank's indices [B] and losses [B] of the
    oldest drawn, not yet consumed batch (under DDP it gathers all ranks' itself). The
    stream position it advances is what makes resume exact, so every training step must
    call it exactly once (:class:`~flexseg.data.feedback.SamplerFeedback` does).

    Example:
        >>> s = UniformBatchSampler(10, 2)
        >>> isinstance(s, LossFeedbackSampler)
        True
        >>> s.update([3, 7], [0.5, 1.5]); s.yield_pos
        1
    """

    def update(self, indices: Sequence[int] | torch.Tensor, losses: Sequence[float] | torch.Tensor) -> None: ...


@runtime_checkable
class HardnessDiagnostics(Protocol):
    """Hardness-aware sampling statistics logged once per training step.

    ``threshold()`` is the current probability of a uniform draw, ``hard_fraction`` the
    fraction of difficulty-weighted draws among all draws so far (both in [0, 1]).

    Example:
        >>> from flexseg.flex.has import HardnessAwareSampler
        >>> isinstance(HardnessAwareSampler(10, 2), HardnessDiagnostics)
        True
        >>> isinstance(UniformBatchSampler(10, 2), HardnessDiagnostics)
        False
    """

    hard_fraction: float

    def threshold(self) -> float: ...


def missing_members(obj: Any, protocol: type) -> list[str]:
    """Names ``protocol`` declares that ``obj`` lacks, sorted (empty when ``obj`` satisfies it).

    Example:
        >>> missing_members(UniformBatchSampler(4, 2), LossFeedbackSampler)
        []
        >>> missing_members([[0, 1]], StreamBatchSampler)  # a list has only __len__ and __iter__
        ['batch_size', 'hard_mask', 'load_state_dict', 'rank', 'state_dict', 'world_size', 'yield_pos']
    """
    names = getattr(protocol, "__protocol_attrs__", None)  # Python ≥ 3.12
    if names is None:
        from typing import _get_protocol_attrs  # type: ignore[attr-defined]

        names = _get_protocol_attrs(protocol)
    return sorted(n for n in names if not hasattr(obj, n))


def feed_back(sampler: LossFeedbackSampler, indices: torch.Tensor, losses: torch.Tensor) -> None:
    """Hand one training step's per-image losses to ``sampler`` (detached, float32, CPU).

    Args:
        sampler: the training batch sampler.
        indices: dataset indices of this rank's batch (the batch's ``index``).
        losses: the images' training losses, any float dtype and device.

    Shape:
        - indices: :math:`(B,)`; losses: :math:`(B,)`.

    Example:
        >>> from flexseg.flex.has import HardnessAwareSampler
        >>> s = HardnessAwareSampler(4, 2)
        >>> feed_back(s, torch.tensor([1, 3]), torch.tensor([2.0, 4.0], dtype=torch.bfloat16))
        >>> s.h.tolist(), s.step
        ([0.0, 2.0, 0.0, 4.0], 1)
    """
    sampler.update(indices.detach().cpu(), losses.detach().float().cpu())


class UniformBatchSampler:
    """Seeded shuffling batch sampler (without replacement within an epoch), with the
    stream and resume semantics of :class:`~flexseg.flex.has.HardnessAwareSampler`.

    Epoch ``e`` of the stream is a permutation of the indices drawn from a CPU generator
    seeded ``seed·1_000_003 + e`` (repeated when one epoch needs more indices than the
    set holds). Under DDP every rank computes the same global batch of
    ``batch_size·world_size`` indices and yields its own contiguous slice.
    :meth:`update` counts consumed batches (the losses are ignored); a new iterator
    resumes at that count.

    Args:
        num_samples: dataset size n; indices are drawn from [0, n).
        batch_size: indices per batch on this rank.
        seed: seed of the permutations.
        rank: this process's rank.
        world_size: number of ranks.

    Example:
        >>> s = UniformBatchSampler(10, 5, seed=3)
        >>> len(s)
        2
        >>> a, b = list(s)
        >>> sorted(a + b) == list(range(10))  # an epoch is a permutation
        True
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
        """Batches per epoch: ``max(1, num_samples // (batch_size·world_size))``."""
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
        """Stream position of the next batch a new iterator yields (= batches consumed)."""
        return self.consumed

    def __iter__(self) -> Iterator[list[int]]:
        start = self.consumed
        end = (start // len(self) + 1) * len(self)
        for position in range(start, end):
            batch = self._global_batch(position)
            yield batch[self.rank * self.batch_size : (self.rank + 1) * self.batch_size].tolist()

    def hard_mask(self, position: int) -> None:
        """Always None: every draw is uniform (rare-class sampling may replace any of them)."""
        return None

    def update(self, indices: Sequence[int] | torch.Tensor, losses: Sequence[float] | torch.Tensor | None = None) -> None:
        """Mark one batch consumed (``indices`` and ``losses`` are not used)."""
        self.consumed += 1

    def state_dict(self) -> dict:
        """``{"consumed", "seed"}``: all a resumed sampler needs.

        Example:
            >>> s = UniformBatchSampler(13, 4, seed=1)
            >>> s.update([0]); s.update([1])
            >>> t = UniformBatchSampler(13, 4, seed=99)
            >>> t.load_state_dict(s.state_dict())
            >>> next(iter(t)) == next(iter(s)), t.yield_pos
            (True, 2)
        """
        return {"consumed": self.consumed, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (the saved seed replaces the constructor's)."""
        self.consumed, self.seed = int(state["consumed"]), int(state["seed"])
        self._perm_epoch = -1
