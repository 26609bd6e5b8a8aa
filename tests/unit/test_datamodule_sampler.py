"""SegDataModule's batch-sampler wiring: which sampler it builds (HAS on/off, with RCS), its
batch size, length, options and their errors, the state round-trip of checkpoints and the
DDP slices (a fake trainer gives the rank and world size)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from flexseg.data.datamodule import SeededBatches, SegDataModule
from flexseg.data.samplers import LossFeedbackSampler, UniformBatchSampler
from flexseg.flex.has import HardnessAwareSampler
from tests.unit.test_rcs import make_dm  # the RCS file trees fixture `trees` comes from tests/unit/conftest.py

ITEM = {"image": torch.zeros(3, 4, 4, dtype=torch.uint8), "label": torch.zeros(4, 4, dtype=torch.long)}
HAS = {"enabled": True, "schedule": "linear", "draw": "iteration", "k": 0.2, "midpoint": 30.0,
       "temperature": 0.5, "ema": 0.6}


def dm_of(n_a: int = 6, n_b: int = 4, batch_size: int = 2, has=None, seed: int = 0, max_steps: int | None = 10,
          rank: int | None = None, world: int = 1, trainer_steps: int = 50) -> SegDataModule:
    """Two in-memory training sets (n_a + n_b images), one target; with ``rank`` a fake trainer."""
    dm = SegDataModule({"a": [dict(ITEM)] * n_a, "b": [dict(ITEM)] * n_b}, {"t": [dict(ITEM)]},
                       batch_size=batch_size, has=has, seed=seed, max_steps=max_steps)
    if rank is not None:
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=world, max_steps=trainer_steps, callbacks=[])
    return dm


def take(dm: SegDataModule, n: int, losses: bool = True) -> list[list[int]]:
    """n batches of the datamodule's stream, each fed back (loss = index / 10) as a step would."""
    out = []
    for batch in SeededBatches(dm.sampler, dm.seed, dm.rcs):
        idx = torch.tensor([item[0] for item in batch])
        out.append(idx.tolist())
        dm.record_losses(idx, idx.float() / 10)
        if len(out) == n:
            return out
    return out + take(dm, n - len(out))


# ------------------------------------------------------------------ which sampler
@pytest.mark.parametrize("has", [None, {"enabled": False, "schedule": "bogus"}])
def test_has_off_builds_the_uniform_sampler(has):
    dm = dm_of(has=has, seed=3)
    s = dm.sampler
    assert type(s) is UniformBatchSampler and isinstance(s, LossFeedbackSampler)
    assert (s.num_samples, s.batch_size, s.seed, s.rank, s.world_size) == (10, 2, 3, 0, 1)
    assert len(s) == 5 and dm.sampler is s  # built once
    assert not dm.has_enabled  # options of a disabled HAS are not read


def test_has_on_builds_hardness_aware_sampling_with_every_option():
    dm = dm_of(has=HAS, seed=4, max_steps=40)
    s = dm.sampler
    assert type(s) is HardnessAwareSampler and dm.has_enabled
    assert (s.num_samples, s.batch_size, s.seed, s.total_steps, s.rank, s.world_size) == (10, 2, 4, 40, 0, 1)
    assert (s.schedule, s.draw, s.k, s.midpoint, s.temperature, s.ema) == ("linear", "iteration", 0.2, 30.0, 0.5, 0.6)
    assert len(s) == s.batches_per_epoch == 5


@pytest.mark.parametrize("n, batch_size, world, length", [(10, 2, 1, 5), (10, 3, 1, 3), (10, 2, 2, 2), (10, 4, 3, 1),
                                                           (3, 8, 1, 1)])
@pytest.mark.parametrize("has", [None, HAS])
def test_sampler_length_is_whole_global_batches_per_epoch(n, batch_size, world, length, has):
    dm = dm_of(n_a=n, n_b=0, batch_size=batch_size, has=has, rank=0, world=world)
    assert len(dm.sampler) == length and len(dm.train_dataloader()) == length
    assert all(len(b) == batch_size for b in take(dm, length + 1))  # full batches, also across the epoch end


def test_has_progress_length_comes_from_the_trainer_when_not_given():
    assert dm_of(has=HAS, max_steps=None).sampler.total_steps is None          # no trainer: progress 0
    assert dm_of(has=HAS, max_steps=None, rank=0, trainer_steps=80).sampler.total_steps == 80
    assert dm_of(has=HAS, max_steps=None, rank=0, trainer_steps=-1).sampler.total_steps is None
    assert dm_of(has=HAS, max_steps=30, rank=0, trainer_steps=80).sampler.total_steps == 30


@pytest.mark.parametrize("has, error, match", [
    ({"enabled": True, "tempreature": 2.0}, TypeError, "unexpected keyword argument 'tempreature'"),
    ({"enabled": True, "seed": 1}, TypeError, "multiple values for keyword argument 'seed'"),  # the run seed's
    ({**HAS, "schedule": "cosine"}, ValueError, "schedule must be one of"),
    ({**HAS, "draw": "batch"}, ValueError, "draw must be one of"),
    ({**HAS, "temperature": 0.0}, ValueError, "temperature must be > 0"),
    ({**HAS, "ema": 1.5}, ValueError, "ema must be in"),
])
def test_has_option_errors(has, error, match):
    dm = dm_of(has=has)  # evaluation never builds the sampler: its options are read at first use
    with pytest.raises(error, match=match):
        _ = dm.sampler
    with pytest.raises(error, match=match):
        dm.train_dataloader()


def test_batch_size_error():
    with pytest.raises(ValueError, match="data.batch_size must be ≥ 1, got 0"):
        dm_of(batch_size=0)


@pytest.mark.parametrize("has", [False, True])
def test_rcs_rides_on_the_built_sampler(trees, has):  # noqa: F811
    dm = make_dm(trees, has=has)
    s = dm.sampler
    assert type(s) is (HardnessAwareSampler if has else UniformBatchSampler)
    assert (s.num_samples, s.batch_size, len(s)) == (10, 4, 2)   # 6 GTA + 4 generated, batch 4
    loader = dm.train_dataloader()
    assert isinstance(loader.batch_sampler, SeededBatches)
    assert loader.batch_sampler.sampler is s and loader.batch_sampler.rcs is dm.rcs
    assert (dm.rcs.offset, dm.rcs.size) == (0, 6)
    assert make_dm(trees, has=has, enabled=False).train_dataloader().batch_sampler.rcs is None


# ------------------------------------------------------------------ state
@pytest.mark.parametrize("has", [None, HAS])
@pytest.mark.parametrize("built", [False, True])
def test_state_round_trip_continues_the_stream(has, built):
    """A datamodule restored from ``state_dict`` (before or after its sampler exists) yields
    exactly the batches the original yields next."""
    ref = dm_of(has=has, seed=2)
    first = take(ref, 3)
    state = ref.state_dict()
    assert state["sampler_kind"] == ("HardnessAwareSampler" if has else "UniformBatchSampler")
    assert "rcs" not in state
    resumed = dm_of(has=has, seed=2)
    if built:
        resumed.sampler  # noqa: B018
    resumed.load_state_dict(state)
    assert take(resumed, 6) == take(ref, 6)
    assert len(first) == 3
    if has:
        assert torch.equal(resumed.sampler.h, ref.sampler.h) and resumed.sampler.step == ref.sampler.step == 9
    else:
        assert resumed.sampler.yield_pos == ref.sampler.yield_pos == 9


def test_state_errors_name_the_option_that_differs():
    uniform = dm_of(has=None).state_dict()
    has = dm_of(has=HAS).state_dict()
    with pytest.raises(ValueError, match="flex.has.enabled differs"):
        dm_of(has=HAS).load_state_dict(uniform)
    with pytest.raises(ValueError, match="flex.has.enabled differs"):
        dm_of(has=None).load_state_dict(has)
    with pytest.raises(ValueError, match="batch_size=2, sampler has 3"):
        dm_of(has=HAS, batch_size=3).load_state_dict(has)
    with pytest.raises(ValueError, match="num_samples=10, sampler has 11"):
        dm_of(n_a=7, has=HAS).load_state_dict(has)
    with pytest.raises(ValueError, match="resume with flex.has.draw=iteration"):
        dm_of(has={**HAS, "draw": "index"}).load_state_dict(has)
    with pytest.raises(ValueError, match="world_size=2, sampler has 1"):
        dm_of(has=HAS).load_state_dict(dm_of(has=HAS, rank=0, world=2).state_dict())
    with pytest.raises(ValueError, match="rcs"):
        dm_of(has=HAS).load_state_dict({**has, "rcs": {"seed": 0}})


# ------------------------------------------------------------------ DDP
@pytest.mark.parametrize("has", [None, HAS])
def test_ddp_ranks_slice_the_one_process_batches(has):
    """Rank r of 2 with batch 2 builds its slice of the sampler of one process with batch 4:
    same indices and augmentation seeds, in rank order; the same length."""
    one = dm_of(n_a=9, n_b=7, batch_size=4, has=has, rank=0, world=1)
    ranks = [dm_of(n_a=9, n_b=7, batch_size=2, has=has, rank=r, world=2) for r in (0, 1)]
    for r, dm in enumerate(ranks):
        assert (dm.sampler.rank, dm.sampler.world_size, dm.sampler.batch_size) == (r, 2, 2)
    assert len(ranks[0].sampler) == len(ranks[1].sampler) == len(one.sampler) == 4
    streams = [list(SeededBatches(dm.sampler, dm.seed)) for dm in ranks]
    assert [a + b for a, b in zip(*streams)] == list(SeededBatches(one.sampler, one.seed))


def test_ddp_feedback_without_a_process_group_stays_local():
    """world_size 2 but torch.distributed not initialized (e.g. a rank's sampler in a test):
    update() takes only this rank's losses — the all-gather needs an initialized group."""
    dm = dm_of(has=HAS, rank=1, world=2)
    dm.record_losses(torch.tensor([3, 8]), torch.tensor([0.5, 2.0]))
    s = dm.sampler
    assert s.seen.nonzero().flatten().tolist() == [3, 8] and s.h[[3, 8]].tolist() == [0.5, 2.0] and s.step == 1
