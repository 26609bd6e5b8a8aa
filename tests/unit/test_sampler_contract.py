"""The batch-sampler contract (flexseg.data.samplers protocols) and the loss feedback loop
(flexseg.data.feedback.SamplerFeedback): both samplers and a third one written here satisfy
it, the callback feeds exactly what the training step returns (also across two gloo ranks),
and a fit without the callback is impossible."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from flexseg.data.datamodule import SeededBatches
from flexseg.data.feedback import SamplerFeedback, require_feedback, training_sampler
from flexseg.data.samplers import (
    HardnessDiagnostics,
    LossFeedbackSampler,
    StreamBatchSampler,
    UniformBatchSampler,
    feed_back,
    missing_members,
)
from flexseg.flex.has import HardnessAwareSampler


class CountingStream:
    """A minimal stream sampler: global batch p holds indices p·G … p·G+G−1 (mod n)."""

    def __init__(self, num_samples: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.num_samples, self.batch_size, self.rank, self.world_size = num_samples, batch_size, rank, world_size
        self.yield_pos = 0

    def __len__(self) -> int:
        return 3

    def __iter__(self):
        G = self.batch_size * self.world_size
        end = (self.yield_pos // len(self) + 1) * len(self)
        for p in range(self.yield_pos, end):
            glob = [(p * G + j) % self.num_samples for j in range(G)]
            yield glob[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]

    def hard_mask(self, position: int):
        return [True] * (self.batch_size * self.world_size) if position % 2 else None

    def state_dict(self) -> dict:
        return {"yield_pos": self.yield_pos}

    def load_state_dict(self, state: dict) -> None:
        self.yield_pos = int(state["yield_pos"])


class CountingFeedback(CountingStream):
    """The same stream, advanced and told the losses by ``update``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[list[int], list[float]]] = []

    def update(self, indices, losses) -> None:
        self.received.append((torch.as_tensor(indices).tolist(), torch.as_tensor(losses).tolist()))
        self.yield_pos += 1


# ------------------------------------------------------------------ the protocols
def test_both_samplers_and_a_third_satisfy_the_protocols():
    uniform, has = UniformBatchSampler(10, 2), HardnessAwareSampler(10, 2)
    for s in (uniform, has, CountingFeedback(10, 2)):
        assert isinstance(s, StreamBatchSampler) and isinstance(s, LossFeedbackSampler)
    plain = CountingStream(10, 2)
    assert isinstance(plain, StreamBatchSampler) and not isinstance(plain, LossFeedbackSampler)
    assert isinstance(has, HardnessDiagnostics)
    assert not isinstance(uniform, HardnessDiagnostics) and not isinstance(plain, HardnessDiagnostics)
    assert uniform.hard_mask(0) is None and uniform.hard_mask(7) is None
    # exactly the members SeededBatches, the datamodule and the feedback use
    stream = ["__iter__", "__len__", "batch_size", "hard_mask", "load_state_dict", "rank", "state_dict",
              "world_size", "yield_pos"]
    assert missing_members(object(), StreamBatchSampler) == stream
    assert missing_members(object(), LossFeedbackSampler) == sorted([*stream, "update"])
    assert missing_members(object(), HardnessDiagnostics) == ["hard_fraction", "threshold"]


def test_seeded_batches_reads_any_stream_sampler():
    """Positions, ranks and seeds come from the declared members: a third sampler gets the
    same seeds formula, and two ranks' slices are the one-process batch."""
    one = list(SeededBatches(CountingStream(10, 4), seed=5))
    assert [[i for i, _ in b] for b in one] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]]
    assert [s for _, s in one[2]] == [(5 * 1_000_003 + 2) * 4099 + slot for slot in range(4)]
    ranks = [list(SeededBatches(CountingStream(10, 2, rank=r, world_size=2), seed=5)) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] == one
    resumed = CountingStream(10, 4)
    resumed.load_state_dict({"yield_pos": 1})
    assert list(SeededBatches(resumed, seed=5)) == one[1:]


def test_seeded_batches_uses_the_hard_mask_with_rcs():
    class FakeRCS:
        def apply(self, index, aug_seed, position, slot, hard):
            return (index, aug_seed) if hard else (index, aug_seed, {"position": position, "slot": slot})

    batches = list(SeededBatches(CountingStream(10, 2), seed=0, rcs=FakeRCS()))
    assert [len(item) for b in batches for item in b] == [3, 3, 2, 2, 3, 3]  # position 1 is all hard
    assert batches[2][1][2] == {"position": 2, "slot": 1}


def test_seeded_batches_refuses_a_sampler_outside_the_contract():
    with pytest.raises(TypeError, match="list is not a StreamBatchSampler.*lacks batch_size, hard_mask, load_state_dict"):
        SeededBatches([[0, 1], [2, 3]], seed=0)

    class NoMask:  # every member but hard_mask
        batch_size, rank, world_size, yield_pos = 2, 0, 1, 0
        __len__ = CountingStream.__len__
        __iter__ = CountingStream.__iter__
        state_dict = CountingStream.state_dict
        load_state_dict = CountingStream.load_state_dict

    with pytest.raises(TypeError, match="lacks hard_mask$"):
        SeededBatches(NoMask(), seed=0)


def test_feed_back_converts_to_float32_on_cpu():
    s = HardnessAwareSampler(4, 2)
    losses = torch.tensor([0.1, 0.7], dtype=torch.float64, requires_grad=True)
    feed_back(s, torch.tensor([2, 0]), losses * 1)
    assert s.h[2].item() == float(torch.tensor(0.1, dtype=torch.float32))  # through float32, as before
    assert s.h[0].item() == float(torch.tensor(0.7, dtype=torch.float32)) and s.step == 1


# ------------------------------------------------------------------ the callback
def _trainer(sampler):
    return SimpleNamespace(datamodule=SimpleNamespace(sampler=sampler))


class LogSink:
    def __init__(self) -> None:
        self.logged: dict[str, tuple[float, int]] = {}

    def log(self, name, value, batch_size=None, **kwargs) -> None:
        assert not kwargs  # as the module logged them: per step, no sync, no progress bar
        self.logged[name] = (value, batch_size)


def test_callback_feeds_the_has_sampler_and_logs_its_values():
    s, ref = HardnessAwareSampler(8, 2, total_steps=4, ema=0.5), HardnessAwareSampler(8, 2, total_steps=4, ema=0.5)
    it, ref_it = iter(s), iter(ref)
    sink = LogSink()
    for step in range(3):
        batch = next(it)
        assert batch == next(ref_it)
        losses = torch.tensor([1.0 + step, 2.5 * step])
        SamplerFeedback().on_train_batch_end(_trainer(s), sink, {"loss": torch.tensor(1.0), "per_image": losses},
                                             {"index": torch.tensor(batch)}, step)
        ref.update(torch.tensor(batch), losses)
        assert torch.equal(s.h, ref.h) and torch.equal(s.seen, ref.seen) and s.step == ref.step == step + 1
        assert sink.logged == {"flex/has_threshold": (ref.threshold(), 2), "flex/has_hard_fraction": (ref.hard_fraction, 2)}
    assert sink.logged["flex/has_threshold"][0] == pytest.approx(1 / (1 + 2.718281828459045 ** (0.05 * 25)))


def test_callback_advances_the_uniform_stream_and_logs_nothing():
    s, sink = UniformBatchSampler(8, 2), LogSink()
    batch = next(iter(s))
    SamplerFeedback().on_train_batch_end(_trainer(s), sink, {"loss": torch.tensor(1.0), "per_image": torch.ones(2)},
                                         {"index": torch.tensor(batch)}, 0)
    assert s.yield_pos == 1 and sink.logged == {}
    third = CountingFeedback(8, 2)
    SamplerFeedback().on_train_batch_end(_trainer(third), sink, {"loss": 0.0, "per_image": torch.tensor([0.5, 2.0])},
                                         {"index": torch.tensor([4, 5])}, 0)
    assert third.received == [([4, 5], [0.5, 2.0])] and sink.logged == {}


def test_callback_skipped_step_and_missing_losses():
    s, sink = HardnessAwareSampler(8, 2), LogSink()
    for outputs in ({}, None):  # training_step returned None (skip_nonfinite)
        SamplerFeedback().on_train_batch_end(_trainer(s), sink, outputs, {"index": torch.tensor([0, 1])}, 0)
    assert s.step == 0 and not bool(s.seen.any()) and sink.logged == {}
    with pytest.raises(RuntimeError, match="no 'per_image' losses"):
        SamplerFeedback().on_train_batch_end(_trainer(s), sink, {"loss": torch.tensor(1.0)},
                                             {"index": torch.tensor([0, 1])}, 0)
    # no datamodule, or one without a feedback sampler: nothing to feed
    assert training_sampler(SimpleNamespace(datamodule=None)) is None
    assert training_sampler(_trainer(CountingStream(4, 2))) is None
    SamplerFeedback().on_train_batch_end(SimpleNamespace(datamodule=None), sink, {"loss": 1.0},
                                         {"index": torch.tensor([0])}, 0)


def test_require_feedback_counts_the_callbacks():
    require_feedback([object(), SamplerFeedback()])
    with pytest.raises(RuntimeError, match="no SamplerFeedback"):
        require_feedback([object()])
    with pytest.raises(RuntimeError, match="2 SamplerFeedback callbacks"):
        require_feedback([SamplerFeedback(), SamplerFeedback()])


def test_training_step_returns_detached_per_image_losses_and_needs_no_datamodule():
    from flexseg.build import build_module
    from tests.integration.test_configs import compose_cfg
    from tests.integration.test_train import TINY

    module = build_module(compose_cfg([*TINY]))
    assert module._trainer is None  # no trainer, no datamodule
    w = torch.tensor([1.0, 3.0], requires_grad=True)
    module.compute_losses = lambda batch: {"loss": (w * 2).sum(), "per_image": w * 2, "loss_seg": torch.tensor(0.5)}
    logged = []
    module.log = lambda name, *a, **k: logged.append(name)
    out = module.training_step({"image": torch.zeros(2, 3, 4, 4), "index": torch.tensor([0, 1])}, 0)
    assert set(out) == {"loss", "per_image"} and out["loss"].requires_grad
    assert out["per_image"].tolist() == [2.0, 6.0] and not out["per_image"].requires_grad
    # the sampler's values are the callback's to log now
    assert logged == ["train/loss", "train/loss_seg", "flex/proto_count_min", "flex/proto_count_median",
                      "flex/proto_count_max"]


# ------------------------------------------------------------------ DDP
WORLD = 2


def _ddp_worker(rank: int, store: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        s = HardnessAwareSampler(12, 2, total_steps=6, ema=0.7, batches_per_epoch=10, rank=rank, world_size=WORLD)
        it = iter(s)
        for step in range(4):
            batch = next(it)
            losses = torch.tensor([float((i * 5 + step + 3 * rank) % 7) for i in batch])
            SamplerFeedback().on_train_batch_end(_trainer(s), LogSink(), {"loss": 0.0, "per_image": losses},
                                                 {"index": torch.tensor(batch)}, step)
        torch.save(s.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_callback_keeps_ranks_identical_and_equal_to_one_process(tmp_path):
    """Each rank feeds its own slice; the sampler all-gathers (rank order), so both ranks end
    with the state of one process fed the global batches, rank 0's slice first."""
    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=WORLD, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD))
    one = HardnessAwareSampler(12, 4, total_steps=6, ema=0.7, batches_per_epoch=10)
    it = iter(one)
    for step in range(4):
        batch = next(it)
        losses = [float((i * 5 + step + 3 * (slot // 2)) % 7) for slot, i in enumerate(batch)]
        one.update(batch, losses)
    for key in ("h", "seen", "generator"):
        assert torch.equal(r0[key], r1[key]) and torch.equal(r0[key], one.state_dict()[key]), key
    assert r0["pending"] == r1["pending"] and r0["step"] == r1["step"] == 4
