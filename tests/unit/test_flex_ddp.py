"""Two CPU processes (gloo): PrototypeBank and HardnessAwareSampler stay identical on both
ranks although each rank feeds different data, and equal the single-process result on the
union of the data."""
from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from flexseg.flex.gap import PrototypeBank
from flexseg.flex.has import HardnessAwareSampler
from flexseg.utils.distributed import rescale_to_global_mean

WORLD = 2
C, G, DIM = 4, 3, 5
BANK_STEPS = 3
HAS = dict(num_samples=20, seed=0, total_steps=10, k=0.5, ema=0.7, batches_per_epoch=100)
BS = 3  # per rank
HAS_STEPS = 6


def pixels(step: int, rank: int):
    """Different features per rank and step (rank 1 sees other pairs and counts)."""
    g = torch.Generator().manual_seed(100 * step + rank)
    n = 6 + 3 * rank
    f = F.normalize(torch.randn(n, DIM, generator=g), dim=1)
    c = torch.randint(0, C - rank, (n,), generator=g)
    gr = torch.randint(0, G, (n,), generator=g)
    return f, c, gr


def losses(indices, step: int, rank: int):
    return [float((i * 7 + step * 3 + rank * 5) % 13) / 4.0 for i in indices]


def mean_values(rank: int) -> torch.Tensor:
    return torch.arange(1.0, 4.0 + 5 * rank) * (1 + rank)  # 3 items on rank 0, 8 on rank 1


def _worker(rank: int, store_path: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=WORLD)
    try:
        bank = PrototypeBank(C, G, DIM, momentum=0.9)
        for step in range(BANK_STEPS):
            bank.update(*pixels(step, rank))
        sampler = HardnessAwareSampler(batch_size=BS, rank=rank, world_size=WORLD, **HAS)
        it = iter(sampler)
        consumed = []
        for step in range(HAS_STEPS):
            batch = next(it)
            sampler.update(torch.tensor(batch), torch.tensor(losses(batch, step, rank)))
            consumed.append(batch)
        nxt = [next(it) for _ in range(2)]
        # a per-rank mean over a different number of items, rescaled to the global mean
        x = torch.tensor(2.0, requires_grad=True)
        values = mean_values(rank)
        loss = rescale_to_global_mean((x * values).mean(), values.numel())
        loss.backward()
        grad = x.grad.clone()
        dist.all_reduce(grad)  # what DDP does: average of the ranks' gradients
        torch.save(
            {"prototypes": bank.prototypes, "counts": bank.counts, "h": sampler.h, "seen": sampler.seen,
             "consumed": consumed, "next": nxt, "probs": sampler.probabilities(),
             "mean_grad": grad / WORLD, "mean_loss": loss.detach()},
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_process_states_identical(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=WORLD, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD))

    # identical on both ranks
    for key in ("prototypes", "counts", "h", "seen", "probs"):
        assert torch.equal(r0[key], r1[key]), key
    # each rank got its own slice of the same global batch
    assert r0["consumed"] != r1["consumed"]

    # single process on the union
    bank = PrototypeBank(C, G, DIM, momentum=0.9)
    for step in range(BANK_STEPS):
        parts = [pixels(step, r) for r in range(WORLD)]
        bank.update(*(torch.cat([p[i] for p in parts]) for i in range(3)))
    assert torch.equal(bank.counts, r0["counts"])
    assert torch.allclose(bank.prototypes, r0["prototypes"], atol=1e-6)

    single = HardnessAwareSampler(batch_size=BS * WORLD, **HAS)
    it = iter(single)
    for step in range(HAS_STEPS):
        batch = next(it)
        assert batch == r0["consumed"][step] + r1["consumed"][step]
        single.update(batch, losses(batch[:BS], step, 0) + losses(batch[BS:], step, 1))
    assert torch.equal(single.h, r0["h"]) and torch.equal(single.seen, r0["seen"])
    assert [next(it) for _ in range(2)] == [a + b for a, b in zip(r0["next"], r1["next"])]

    # rescale_to_global_mean: DDP-averaged gradient = gradient of the mean over all items,
    # and the ranks' losses average to the global mean (a plain per-rank mean would not)
    everything = torch.cat([mean_values(r) for r in range(WORLD)])
    assert torch.allclose(r0["mean_grad"], everything.mean()) and torch.allclose(r1["mean_grad"], everything.mean())
    assert torch.allclose((r0["mean_loss"] + r1["mean_loss"]) / WORLD, 2.0 * everything.mean())
    naive = sum(mean_values(r).mean() for r in range(WORLD)) / WORLD
    assert not torch.allclose(naive, everything.mean())
    x = torch.tensor(1.5)
    assert rescale_to_global_mean(x, 7) is x  # single process: unchanged
