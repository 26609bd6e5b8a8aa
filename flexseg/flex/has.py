"""HAS — hardness-aware sampling: a batch sampler that mixes uniform draws with draws
from softmax(h/T) over per-image difficulties h, the hard share growing with training
progress (docs/design.md §1, §3).

* thresholds: :func:`sigmoid_threshold` (the paper), :func:`linear_threshold`, ``none``
  (:func:`threshold`) — the probability of a uniform draw at progress t (percent);
* :class:`HardnessAwareSampler` — the ``DataLoader(batch_sampler=...)``: one draw per
  global batch (``draw="iteration"``, the paper) or per index, difficulties by EMA of the
  fed-back losses, one infinite resumable stream, identical on every DDP rank. It
  satisfies :class:`~flexseg.data.samplers.LossFeedbackSampler` (the training loop's
  contract) without importing it.

Draw semantics, random-number budget, epochs, exact resume with prefetched batches and
DDP: docs/has.md.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

__all__ = ["sigmoid_threshold", "linear_threshold", "threshold", "HardnessAwareSampler", "SCHEDULES", "DRAWS"]

SCHEDULES = ("sigmoid", "linear", "none")
#: hard-or-uniform decision once per global batch ("iteration", the paper) or per index
DRAWS = ("iteration", "index")


def sigmoid_threshold(progress_pct: float, k: float = 0.05, midpoint: float = 50.0) -> float:
    """The paper's threshold 1 / (1 + exp(k·(t − midpoint))), computed without overflow.

    Args:
        progress_pct: training progress t in percent.
        k: steepness.
        midpoint: progress (percent) where the threshold is 0.5.

    Returns:
        The probability of a uniform draw, in (0, 1).

    Example:
        >>> round(sigmoid_threshold(0.0), 3), sigmoid_threshold(50.0), round(sigmoid_threshold(100.0), 3)
        (0.924, 0.5, 0.076)
        >>> sigmoid_threshold(1e6, k=1.0)  # no overflow far from the midpoint
        0.0
    """
    z = k * (float(progress_pct) - midpoint)
    if z >= 0:
        e = math.exp(-z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(z))


def linear_threshold(progress_pct: float) -> float:
    """The ``linear`` schedule 1 − t/100, clamped to [0, 1].

    Args:
        progress_pct: training progress t in percent.

    Returns:
        The probability of a uniform draw.

    Example:
        >>> linear_threshold(25.0), linear_threshold(-10.0), linear_threshold(120.0)
        (0.75, 1.0, 0.0)
    """
    return min(1.0, max(0.0, 1.0 - float(progress_pct) / 100.0))


def threshold(progress_pct: float, schedule: str = "sigmoid", k: float = 0.05, midpoint: float = 50.0) -> float:
    """Probability of a uniform draw at progress t for ``schedule``.

    Args:
        progress_pct: training progress t in percent.
        schedule: ``"sigmoid"`` (:func:`sigmoid_threshold` with ``k``, ``midpoint``),
            ``"linear"`` (:func:`linear_threshold`) or ``"none"`` (0: always hard-aware).
        k: steepness of the sigmoid.
        midpoint: midpoint of the sigmoid (percent).

    Returns:
        The threshold in [0, 1].

    Raises:
        ValueError: for another ``schedule``.

    Example:
        >>> threshold(50.0), threshold(50.0, "linear"), threshold(50.0, "none")
        (0.5, 0.5, 0.0)
    """
    if schedule == "sigmoid":
        return sigmoid_threshold(progress_pct, k, midpoint)
    if schedule == "linear":
        return linear_threshold(progress_pct)
    if schedule == "none":
        return 0.0
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")


def _as_1d(x: Any, dtype: torch.dtype) -> torch.Tensor:
    t = x.detach().to("cpu") if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    return t.reshape(-1).to(dtype)


class HardnessAwareSampler(Sampler[list[int]]):
    """Batch sampler (``DataLoader(batch_sampler=...)``) yielding lists of ``batch_size``
    dataset indices — this rank's slice of a global batch of ``batch_size·world_size``.

    Each global batch is drawn hard (from softmax(h/T), with replacement) with probability
    1 − threshold(t), else uniformly — once per batch (``draw="iteration"``) or per index
    (``"index"``). Difficulty h_i: unseen images count as the mean of the observed ones
    (0 before any); the first observation of i sets h_i = loss, later ones
    h_i ← ema·h_i + (1 − ema)·loss; non-finite losses are ignored. t = 100·step/total_steps
    clamped to [0, 100], step = number of :meth:`update` calls (or :meth:`set_progress`);
    t = 0 while ``total_steps`` is None. Draws, epochs, exact resume and DDP: docs/has.md.

    Args:
        num_samples: dataset size n; indices are drawn from [0, n).
        batch_size: indices per batch on this rank.
        k: steepness of the sigmoid threshold.
        midpoint: progress (percent) where the sigmoid threshold is 0.5.
        temperature: T of softmax(h/T), > 0.
        ema: difficulty EMA factor in [0, 1].
        schedule: ``"sigmoid"``, ``"linear"`` or ``"none"`` (:func:`threshold`).
        seed: seed of the sampler's own CPU generator.
        total_steps: training length in steps (progress 100 %), or None.
        batches_per_epoch: ``len()``; default ``max(1, n // (batch_size·world_size))``.
        rank: this process's rank; it yields slots ``[rank·B, (rank+1)·B)``.
        world_size: number of ranks (every rank holds an identical sampler).
        draw: ``"iteration"`` (one hard-or-uniform decision per global batch) or ``"index"``.

    Example:
        >>> s = HardnessAwareSampler(num_samples=6, batch_size=2, schedule="none", seed=0)
        >>> batch = next(iter(s))
        >>> len(batch), all(0 <= i < 6 for i in batch)
        (2, True)
        >>> s.update([0, 1], [5.0, 1.0])  # image 0 is hard, 1 easy, the others count as 3.0
        >>> s.difficulties().tolist()
        [5.0, 1.0, 3.0, 3.0, 3.0, 3.0]
        >>> s.probabilities().argmax().item(), round(s.probabilities().sum().item(), 6)
        (0, 1.0)
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        k: float = 0.05,
        midpoint: float = 50.0,
        temperature: float = 1.0,
        ema: float = 0.9,
        schedule: str = "sigmoid",
        seed: int = 0,
        total_steps: int | None = None,
        batches_per_epoch: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        draw: str = "iteration",
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be ≥ 1, got {num_samples}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if draw not in DRAWS:
            raise ValueError(f"draw must be one of {DRAWS}, got {draw!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= ema <= 1.0:
            raise ValueError(f"ema must be in [0, 1], got {ema}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 ≤ rank < world_size, got rank={rank}, world_size={world_size}")
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"total_steps must be ≥ 1 or None, got {total_steps}")
        if batches_per_epoch is not None and batches_per_epoch < 1:
            raise ValueError(f"batches_per_epoch must be ≥ 1 or None, got {batches_per_epoch}")
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.k, self.midpoint, self.temperature, self.ema = float(k), float(midpoint), float(temperature), float(ema)
        self.schedule, self.seed, self.draw = schedule, int(seed), draw
        self.total_steps = total_steps
        self.rank, self.world_size = int(rank), int(world_size)
        self.batches_per_epoch = batches_per_epoch or max(1, num_samples // (batch_size * world_size))
        self.generator = torch.Generator().manual_seed(self.seed)
        self.h = torch.zeros(num_samples, dtype=torch.float64)
        self.seen = torch.zeros(num_samples, dtype=torch.bool)
        self.step = 0  # progress step: update() calls, or set by set_progress()
        self.drawn = 0  # global batches drawn from the generator (= next new stream position)
        self.pending: deque[tuple[int, list[int]]] = deque()  # (position, global batch), oldest first
        self.pending_hard: dict[int, list[bool]] = {}  # position → which slots were hard draws
        self.yield_pos = 0  # stream position of the next batch an iterator yields
        self.num_draws = 0
        self.num_hard_draws = 0
        self.last_hard_fraction = 0.0

    #: at most this many drawn-but-unconsumed batches are kept (far above any prefetch depth)
    max_pending: int = 1024

    # ------------------------------------------------------------------ schedule
    @property
    def progress(self) -> float:
        """Training progress t in percent, clamped to [0, 100] (0 while total_steps is None).

        Example:
            >>> s = HardnessAwareSampler(4, 2, total_steps=8)
            >>> s.update([0], [1.0]); s.update([1], [1.0])
            >>> s.progress
            25.0
        """
        if not self.total_steps:
            return 0.0
        return min(100.0, max(0.0, 100.0 * self.step / self.total_steps))

    def threshold(self) -> float:
        """Probability of a uniform draw at the current progress (:func:`threshold`).

        Example:
            >>> s = HardnessAwareSampler(4, 2, schedule="linear", total_steps=4)
            >>> s.set_progress(1)
            >>> s.threshold()
            0.75
        """
        return threshold(self.progress, self.schedule, self.k, self.midpoint)

    def set_progress(self, step: int, total_steps: int | None = None) -> None:
        """Set the progress step (and optionally ``total_steps`` ≥ 1) used by the next draws.

        Example:
            >>> s = HardnessAwareSampler(4, 2)
            >>> s.set_progress(30, total_steps=60)
            >>> s.progress, s.threshold()
            (50.0, 0.5)
        """
        if total_steps is not None:
            if total_steps < 1:
                raise ValueError(f"total_steps must be ≥ 1, got {total_steps}")
            self.total_steps = int(total_steps)
        self.step = int(step)

    # ------------------------------------------------------------------ distributions
    def difficulties(self) -> torch.Tensor:
        """Effective difficulties h: unseen images get the mean of the seen ones (0 if none).

        Shape:
            - Output: :math:`(n,)` float64.

        Example:
            >>> s = HardnessAwareSampler(3, 1, ema=0.5)
            >>> s.update([0], [2.0]); s.update([0], [4.0])  # 2, then 0.5·2 + 0.5·4
            >>> s.difficulties().tolist()
            [3.0, 3.0, 3.0]
        """
        if not bool(self.seen.any()):
            return torch.zeros_like(self.h)
        mean = self.h[self.seen].mean()
        return torch.where(self.seen, self.h, mean)

    def hard_probabilities(self) -> torch.Tensor:
        """Probabilities of a hard draw, softmax(h / T).

        Shape:
            - Output: :math:`(n,)` float64.

        Example:
            >>> s = HardnessAwareSampler(2, 1, temperature=0.5)
            >>> s.update([0, 1], [1.0, 0.0])
            >>> p = s.hard_probabilities()
            >>> round(p[0].item() / p[1].item(), 6) == round(math.exp(2.0), 6)  # e^{Δh/T}
            True
        """
        return torch.softmax(self.difficulties() / self.temperature, dim=0)

    def probabilities(self) -> torch.Tensor:
        """Marginal draw probability of each index at the current progress,
        threshold/n + (1 − threshold)·softmax(h/T) (the same for both ``draw`` modes).

        Shape:
            - Output: :math:`(n,)` float64, sums to 1.

        Example:
            >>> s = HardnessAwareSampler(4, 2)  # no feedback yet: uniform
            >>> s.probabilities().tolist()
            [0.25, 0.25, 0.25, 0.25]
        """
        thr = self.threshold()
        return thr / self.num_samples + (1.0 - thr) * self.hard_probabilities()

    # ------------------------------------------------------------------ drawing
    def __len__(self) -> int:
        """Batches per epoch (``batches_per_epoch``)."""
        return self.batches_per_epoch

    def _draw_global_batch(self) -> list[int]:
        m = self.batch_size * self.world_size
        g = self.generator
        r = torch.rand(m, generator=g, dtype=torch.float64)
        uniform = torch.randint(self.num_samples, (m,), generator=g)
        hard = torch.multinomial(self.hard_probabilities(), m, replacement=True, generator=g)
        if self.draw == "iteration":  # one decision for the whole global batch
            r = r[:1].expand(m)
        is_hard = r > self.threshold()
        batch = torch.where(is_hard, hard, uniform).tolist()
        n_hard = int(is_hard.sum())
        self.num_draws += m
        self.num_hard_draws += n_hard
        self.last_hard_fraction = n_hard / m
        self.pending.append((self.drawn, batch))
        self.pending_hard[self.drawn] = is_hard.tolist()
        if len(self.pending) > self.max_pending:  # never fed back: forget the oldest
            self.pending_hard.pop(self.pending.popleft()[0], None)
        self.drawn += 1
        return batch

    def _next_global_batch(self) -> list[int]:
        if self.yield_pos < self.drawn:  # replay a drawn, not yet consumed batch (after a resume)
            first = self.pending[0][0] if self.pending else self.drawn
            if self.yield_pos < first:  # consumed meanwhile: skip ahead to the oldest pending one
                self.yield_pos = first
            if self.yield_pos < self.drawn:
                batch = self.pending[self.yield_pos - first][1]
                self.yield_pos += 1
                return batch
        batch = self._draw_global_batch()
        self.yield_pos = self.drawn
        return batch

    def __iter__(self) -> Iterator[list[int]]:
        L = self.batches_per_epoch
        end = (self.yield_pos // L + 1) * L
        lo, hi = self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        while self.yield_pos < end:
            yield self._next_global_batch()[lo:hi]

    def hard_mask(self, position: int) -> list[bool] | None:
        """Which slots of the (pending) global batch at stream ``position`` were hard draws;
        None once it is consumed (or never drawn). Rare-class sampling replaces only the
        uniform draws.

        Example:
            >>> s = HardnessAwareSampler(4, 2, schedule="none")  # threshold 0: all hard
            >>> _ = next(iter(s))
            >>> s.hard_mask(0), s.hard_fraction
            ([True, True], 1.0)
            >>> s.update([0, 1], [1.0, 1.0]); s.hard_mask(0) is None
            True
        """
        return self.pending_hard.get(int(position))

    @property
    def hard_fraction(self) -> float:
        """Fraction of hard draws among all draws so far (0 before any draw)."""
        return self.num_hard_draws / self.num_draws if self.num_draws else 0.0

    # ------------------------------------------------------------------ feedback
    def _all_gather(self, indices: torch.Tensor, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenate (indices, losses) of all ranks in rank order (variable lengths allowed)."""
        device = torch.device("cpu")
        if dist.get_backend() == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        n = torch.tensor([indices.numel()], dtype=torch.long, device=device)
        sizes = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
        dist.all_gather(sizes, n)
        sizes_l = [int(s) for s in sizes]
        width = max(sizes_l)
        pad_i = torch.zeros(width, dtype=torch.long, device=device)
        pad_l = torch.zeros(width, dtype=torch.float64, device=device)
        pad_i[: indices.numel()] = indices.to(device)
        pad_l[: losses.numel()] = losses.to(device)
        out_i = [torch.empty_like(pad_i) for _ in sizes_l]
        out_l = [torch.empty_like(pad_l) for _ in sizes_l]
        dist.all_gather(out_i, pad_i)
        dist.all_gather(out_l, pad_l)
        idx = torch.cat([t[:s] for t, s in zip(out_i, sizes_l)]).cpu()
        los = torch.cat([t[:s] for t, s in zip(out_l, sizes_l)]).cpu()
        return idx, los

    def update(self, indices: Sequence[int] | torch.Tensor, losses: Sequence[float] | torch.Tensor) -> None:
        """Feed back this rank's per-image losses of the oldest drawn, unconsumed batch.

        Gathers from all ranks under DDP (when torch.distributed is initialized and
        ``world_size`` > 1), applies the EMA in order (rank order, then position), marks the
        oldest pending batch consumed and advances the progress step by one. Call it once
        per training step on every rank (:class:`flexseg.data.feedback.SamplerFeedback`).

        Args:
            indices: dataset indices in [0, n).
            losses: their training losses; non-finite ones are skipped.

        Shape:
            - indices: :math:`(B,)`; losses: :math:`(B,)` (any shape of B elements).

        Raises:
            ValueError: lengths differ, or an index is out of range.

        Example:
            >>> s = HardnessAwareSampler(4, 2, ema=0.5)
            >>> s.update(torch.tensor([1, 1]), torch.tensor([2.0, 4.0]))  # set, then EMA
            >>> s.h[1].item(), s.step
            (3.0, 1)
            >>> s.update([2], [float("nan")]); bool(s.seen[2])
            False
        """
        idx = _as_1d(indices, torch.long)
        los = _as_1d(losses, torch.float64)
        if idx.numel() != los.numel():
            raise ValueError(f"indices and losses must have the same length, got {idx.numel()} and {los.numel()}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.num_samples):
            raise ValueError(f"indices must lie in [0, {self.num_samples})")
        if self.world_size > 1 and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            idx, los = self._all_gather(idx, los)
        for i, loss in zip(idx.tolist(), los.tolist()):
            if not math.isfinite(loss):
                continue
            if self.seen[i]:
                self.h[i] = self.ema * self.h[i] + (1.0 - self.ema) * loss
            else:
                self.h[i] = loss
                self.seen[i] = True
        if self.pending:
            self.pending_hard.pop(self.pending.popleft()[0], None)
        self.step += 1

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed for an exact resume (tensors, ints, lists only): difficulties,
        seen-mask, generator state, counters and the pending (drawn, unconsumed) batches.

        Example:
            >>> a = HardnessAwareSampler(8, 2, seed=1, schedule="none")
            >>> it = iter(a); _ = next(it); _ = next(it)  # two drawn (prefetched) ...
            >>> a.update([0, 1], [3.0, 1.0])               # ... one consumed
            >>> b = HardnessAwareSampler(8, 2, seed=1, schedule="none")
            >>> b.load_state_dict(a.state_dict())
            >>> next(iter(b)) == a.pending[0][1]            # the pending batch is replayed first
            True
        """
        return {
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "h": self.h.clone(),
            "seen": self.seen.clone(),
            "generator": self.generator.get_state(),
            "step": self.step,
            "total_steps": self.total_steps,
            "drawn": self.drawn,
            "pending": [[pos, list(batch)] for pos, batch in self.pending],
            "pending_hard": [[pos, list(self.pending_hard.get(pos, []))] for pos, _ in self.pending],
            "num_draws": self.num_draws,
            "num_hard_draws": self.num_hard_draws,
            "draw": self.draw,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the next iterator replays pending batches first.

        Raises:
            ValueError: the state's ``num_samples``, ``batch_size``, ``world_size`` or
                ``draw`` differ from this sampler's.
        """
        for key in ("num_samples", "batch_size", "world_size"):
            if int(state[key]) != getattr(self, key):
                raise ValueError(f"HardnessAwareSampler state has {key}={state[key]}, sampler has {getattr(self, key)}")
        saved_draw = state.get("draw", "index")  # checkpoints before the option drew per index
        if saved_draw != self.draw:
            raise ValueError(
                f"HardnessAwareSampler state was drawn with draw={saved_draw!r}, sampler has draw={self.draw!r}; "
                f"resume with flex.has.draw={saved_draw}"
            )
        self.h = state["h"].detach().to("cpu", torch.float64).clone()
        self.seen = state["seen"].detach().to("cpu", torch.bool).clone()
        self.generator.set_state(state["generator"].cpu())
        self.step = int(state["step"])
        if self.total_steps is None and state.get("total_steps") is not None:
            self.total_steps = int(state["total_steps"])  # the constructor's value wins if given
        self.drawn = int(state["drawn"])
        self.pending = deque((int(pos), [int(i) for i in batch]) for pos, batch in state["pending"])
        self.pending_hard = {int(pos): [bool(b) for b in mask] for pos, mask in state.get("pending_hard", [])}
        self.yield_pos = self.pending[0][0] if self.pending else self.drawn
        self.num_draws = int(state.get("num_draws", 0))
        self.num_hard_draws = int(state.get("num_hard_draws", 0))
