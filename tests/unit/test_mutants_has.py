"""HAS tests written against the mutants that survived ``make mutation`` (docs/testing.md).

They pin what the other HAS tests left open: the thresholds' defaults and clamping, the
edges of every argument range (one sample, batch 1, ema 0 and 1, one step, one batch per
epoch), the sampler's default seed, the random stream documented in flexseg/flex/has.py
(re-drawn here with the same generator calls), the bound on pending batches, the two
resume paths where fed-back batches are skipped, old checkpoints without the newer state
keys, non-finite losses in the middle of a batch and a multi-rank sampler used without a
process group. Expected values are computed here by hand or by loops.
"""
from __future__ import annotations

import itertools
import math
import re

import pytest
import torch

from flexseg.flex.has import HardnessAwareSampler, linear_threshold, sigmoid_threshold, threshold


def sig(t: float, k: float = 0.05, m: float = 50.0) -> float:
    return 1.0 / (1.0 + math.exp(k * (t - m)))


def softmax(h: list[float], temperature: float = 1.0) -> list[float]:
    e = [math.exp(v / temperature) for v in h]
    return [v / sum(e) for v in e]


# ----------------------------------------------------------------------------- thresholds
def test_threshold_defaults_are_the_sigmoid_with_k_005_and_midpoint_50():
    assert threshold(0.0) == pytest.approx(sig(0.0)) and threshold(0.0) == pytest.approx(0.9241418)
    assert threshold(50.0) == 0.5
    assert threshold(100.0) == pytest.approx(sig(100.0))
    assert sigmoid_threshold(50.0) == 0.5 and sigmoid_threshold(0.0) == pytest.approx(0.9241418)


@pytest.mark.parametrize(("t", "expected"), [(-10.0, 1.0), (-100.0, 1.0), (0.0, 1.0), (25.0, 0.75), (100.0, 0.0), (150.0, 0.0)])
def test_linear_threshold_is_clamped_to_0_1(t, expected):
    assert linear_threshold(t) == pytest.approx(expected)
    assert threshold(t, "linear") == pytest.approx(expected)


def test_unknown_schedule_names_the_choices():
    with pytest.raises(ValueError, match="schedule must be one of"):
        threshold(10.0, "cosine")
    with pytest.raises(ValueError, match="schedule must be one of"):
        HardnessAwareSampler(4, 2, schedule="cosine")


# ----------------------------------------------------------------------------- argument ranges
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_samples": 0}, "num_samples must be ≥ 1"),
    ({"batch_size": 0}, "batch_size must be ≥ 1"),
    ({"temperature": 0.0}, "temperature must be > 0"),
    ({"temperature": -1.0}, "temperature must be > 0"),
    ({"ema": -0.1}, r"ema must be in \[0, 1\]"),
    ({"ema": 1.5}, r"ema must be in \[0, 1\]"),
    ({"ema": 2.0}, r"ema must be in \[0, 1\]"),
    ({"total_steps": 0}, "total_steps must be ≥ 1 or None"),
    ({"batches_per_epoch": 0}, "batches_per_epoch must be ≥ 1 or None"),
    ({"rank": 2, "world_size": 2}, "need 0 ≤ rank < world_size"),
])
def test_out_of_range_arguments_are_named(kwargs, message):
    args = {"num_samples": 4, "batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        HardnessAwareSampler(**args)


def test_other_messages():
    s = HardnessAwareSampler(4, 2)
    with pytest.raises(ValueError, match="total_steps must be ≥ 1"):
        s.set_progress(0, total_steps=0)
    with pytest.raises(ValueError, match="indices and losses must have the same length"):
        s.update([0, 1], [1.0])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        s.update([4], [1.0])
    with pytest.raises(ValueError, match="HardnessAwareSampler state has num_samples=4"):
        HardnessAwareSampler(5, 2).load_state_dict(s.state_dict())


def test_one_sample_and_batch_size_one():
    assert list(HardnessAwareSampler(1, 3)) == [[0, 0, 0]]  # one epoch = max(1, 1 // 3) = 1 batch
    s = HardnessAwareSampler(3, 1, batches_per_epoch=4)
    batches = list(s)
    assert len(batches) == 4 and all(len(b) == 1 and 0 <= b[0] < 3 for b in batches)


def test_one_batch_per_epoch():
    s = HardnessAwareSampler(4, 4)  # 4 // 4 = 1 batch per epoch
    assert len(s) == 1 and len(list(s)) == 1 and len(list(s)) == 1
    s = HardnessAwareSampler(10, 2, batches_per_epoch=1)
    assert len(s) == 1 and len(list(s)) == 1


def test_one_total_step():
    s = HardnessAwareSampler(4, 2, total_steps=1)
    assert s.threshold() == pytest.approx(sig(0.0))
    s.update([0, 1], [1.0, 1.0])
    assert s.threshold() == pytest.approx(sig(100.0))  # progress 100 % after one step
    s.set_progress(0, total_steps=1)
    assert s.threshold() == pytest.approx(sig(0.0))


@pytest.mark.parametrize(("ema", "h0"), [(0.0, 5.0), (1.0, 2.0), (0.5, 3.5)])
def test_ema_0_keeps_the_latest_loss_and_1_the_first(ema, h0):
    s = HardnessAwareSampler(2, 1, schedule="none", ema=ema)
    s.update([0], [2.0])
    s.update([0], [5.0])
    s.update([1], [3.0])
    assert s.probabilities().tolist() == pytest.approx(softmax([h0, 3.0]))


def test_non_finite_losses_are_skipped_and_the_rest_of_the_batch_still_counts():
    s = HardnessAwareSampler(4, 4, schedule="none")
    s.update([0, 1, 2], [1.0, float("nan"), 3.0])
    s.update([3, 0], [float("inf"), 2.0])  # index 0 seen: 0.9·1 + 0.1·2 = 1.1
    # seen: 0 (1.1) and 2 (3.0); unseen 1 and 3 take their mean 2.05
    assert s.probabilities().tolist() == pytest.approx(softmax([1.1, 2.05, 3.0, 2.05]))


def test_a_multi_rank_sampler_without_process_group_learns_from_its_own_losses():
    s = HardnessAwareSampler(4, 1, schedule="none", rank=1, world_size=2)
    s.update([2], [4.0])
    assert s.probabilities().tolist() == pytest.approx(softmax([4.0, 4.0, 4.0, 4.0]))
    s.update([0], [0.0])
    assert s.probabilities().tolist() == pytest.approx(softmax([0.0, 2.0, 4.0, 2.0]))


# ----------------------------------------------------------------------------- the stream
def _take(sampler: HardnessAwareSampler, n: int) -> list[list[int]]:
    return list(itertools.islice(iter(sampler), n))


def test_default_seed_is_0():
    assert _take(HardnessAwareSampler(50, 3, midpoint=0.0), 6) == _take(HardnessAwareSampler(50, 3, midpoint=0.0, seed=0), 6)
    assert _take(HardnessAwareSampler(50, 3, midpoint=0.0), 6) != _take(HardnessAwareSampler(50, 3, midpoint=0.0, seed=1), 6)


@pytest.mark.parametrize("draw", ["iteration", "index"])
def test_the_documented_stream(draw):
    """Each global batch of M indices: M float64 uniforms r, M uniform ints, M draws from
    softmax(h/T) (with replacement), all from the sampler's generator; a slot is a hard
    draw iff r > threshold (the first r for the whole batch with draw="iteration")."""
    n, M, seed, T = 9, 4, 5, 0.5
    s = HardnessAwareSampler(n, M, midpoint=0.0, temperature=T, seed=seed, draw=draw, batches_per_epoch=100)
    thr = sig(0.0, m=0.0)  # progress stays 0 without total_steps: threshold 0.5
    g = torch.Generator().manual_seed(seed)
    h, seen = [0.0] * n, [False] * n
    it = iter(s)
    for step in range(8):
        r = torch.rand(M, generator=g, dtype=torch.float64)
        uniform = torch.randint(n, (M,), generator=g)
        known = [h[i] for i in range(n) if seen[i]]
        fill = sum(known) / len(known) if known else 0.0
        p = torch.tensor(softmax([h[i] if seen[i] else fill for i in range(n)], T), dtype=torch.float64)
        hard = torch.multinomial(p, M, replacement=True, generator=g)
        rr = r[:1].expand(M) if draw == "iteration" else r
        expected = [int(hard[j]) if float(rr[j]) > thr else int(uniform[j]) for j in range(M)]
        batch = next(it)
        assert batch == expected, step
        losses = [0.5 * i + 0.1 * step for i in batch]
        s.update(batch, losses)
        for i, loss in zip(batch, losses):
            h[i] = 0.9 * h[i] + 0.1 * loss if seen[i] else loss
            seen[i] = True


def test_at_most_1024_pending_batches_are_kept():
    s = HardnessAwareSampler(4, 2, schedule="none", batches_per_epoch=5000)
    _take(s, 1030)  # never fed back
    pending = s.state_dict()["pending"]
    assert len(pending) == 1024 and [pos for pos, _ in pending] == list(range(6, 1030))
    assert s.hard_mask(5) is None  # forgotten
    assert s.hard_mask(6) == [True, True] and s.hard_mask(1029) == [True, True]


# ----------------------------------------------------------------------------- resume
def _run_and_save(**kwargs):
    a = HardnessAwareSampler(40, 2, midpoint=0.0, seed=2, **kwargs)
    it = iter(a)
    drawn = [next(it) for _ in range(3)]  # prefetched, nothing fed back yet
    return a, it, drawn, a.state_dict()


def test_resume_after_some_pending_batches_were_fed_back():
    a, it, drawn, state = _run_and_save()
    b = HardnessAwareSampler(40, 2, midpoint=0.0, seed=2)
    b.load_state_dict(state)
    for s in (a, b):
        s.update(drawn[0], [1.0, 2.0])  # the oldest pending batch is consumed before b replays it
    jt = iter(b)
    assert [next(jt), next(jt)] == drawn[1:]  # replay skips the consumed batch
    assert next(jt) == next(it)  # then new draws, the same as the uninterrupted run


def test_resume_after_every_pending_batch_was_fed_back():
    a, it, drawn, state = _run_and_save()
    b = HardnessAwareSampler(40, 2, midpoint=0.0, seed=2)
    b.load_state_dict(state)
    for s in (a, b):
        for batch in drawn:
            s.update(batch, [1.0, 0.5])
    assert next(iter(b)) == next(it)


def test_resume_keeps_hard_masks_counters_and_total_steps():
    a = HardnessAwareSampler(40, 2, midpoint=0.0, seed=2, total_steps=10)
    _take(a, 4)
    a.update([0, 1], [1.0, 2.0])
    state = a.state_dict()
    b = HardnessAwareSampler(40, 2, midpoint=0.0, seed=2)  # total_steps unknown: taken from the state
    b.load_state_dict(state)
    assert b.total_steps == 10 and b.threshold() == pytest.approx(a.threshold()) == pytest.approx(sig(10.0, m=0.0))
    assert b.hard_fraction == a.hard_fraction and b.num_draws == a.num_draws == 8
    for pos in range(1, 4):
        assert b.hard_mask(pos) == a.hard_mask(pos) is not None
    assert any(any(a.hard_mask(pos)) for pos in range(1, 4)) and not all(all(a.hard_mask(pos)) for pos in range(1, 4))
    c = HardnessAwareSampler(40, 2, midpoint=0.0, seed=2, total_steps=20)  # the constructor's value wins
    c.load_state_dict(state)
    assert c.total_steps == 20 and c.threshold() == pytest.approx(sig(5.0, m=0.0))


def test_checkpoint_without_the_newer_keys():
    a = HardnessAwareSampler(6, 2, schedule="none", seed=1)
    _take(a, 2)
    state = {k: v for k, v in a.state_dict().items() if k not in ("pending_hard", "num_draws", "num_hard_draws")}
    b = HardnessAwareSampler(6, 2, schedule="none", seed=1)
    b.load_state_dict(state)
    assert b.hard_fraction == 0.0 and b.hard_mask(0) is None
    b.update([0, 1], [1.0, 1.0])  # consumes a pending batch that has no saved mask
    _take(b, 2)  # one replayed, one new draw: all hard with schedule "none"
    assert b.num_draws == 2 and b.hard_fraction == 1.0


def test_loaded_state_is_float64_difficulties_and_bool_mask():
    a = HardnessAwareSampler(3, 1, schedule="none")
    a.update([0, 2], [0.5, 2.0])
    state = a.state_dict()
    state["h"], state["seen"] = state["h"].float(), state["seen"].to(torch.uint8)
    b = HardnessAwareSampler(3, 1, schedule="none")
    b.load_state_dict(state)
    p = b.probabilities()
    assert p.dtype == torch.float64 and p.tolist() == pytest.approx(softmax([0.5, 1.25, 2.0]))


# ---- second pass (issue 29): every message word for word; the state before the first draw ----

def _exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_samples": 0}, "num_samples must be ≥ 1, got 0"),
    ({"batch_size": 0}, "batch_size must be ≥ 1, got 0"),
    ({"schedule": "cosine"}, "schedule must be one of ('sigmoid', 'linear', 'none'), got 'cosine'"),
    ({"draw": "epoch"}, "draw must be one of ('iteration', 'index'), got 'epoch'"),
    ({"temperature": 0.0}, "temperature must be > 0, got 0.0"),
    ({"ema": 1.5}, "ema must be in [0, 1], got 1.5"),
    ({"ema": -0.5}, "ema must be in [0, 1], got -0.5"),
    ({"rank": 2, "world_size": 2}, "need 0 ≤ rank < world_size, got rank=2, world_size=2"),
    ({"rank": -1, "world_size": 2}, "need 0 ≤ rank < world_size, got rank=-1, world_size=2"),
    ({"world_size": 0}, "need 0 ≤ rank < world_size, got rank=0, world_size=0"),
    ({"total_steps": 0}, "total_steps must be ≥ 1 or None, got 0"),
    ({"batches_per_epoch": 0}, "batches_per_epoch must be ≥ 1 or None, got 0"),
])
def test_argument_messages_word_for_word(kwargs, message):
    with pytest.raises(ValueError, match=_exact(message)):
        HardnessAwareSampler(**{"num_samples": 4, "batch_size": 2, **kwargs})


def test_other_messages_word_for_word():
    with pytest.raises(ValueError, match=_exact("schedule must be one of ('sigmoid', 'linear', 'none'), got 'cosine'")):
        threshold(10.0, "cosine")
    s = HardnessAwareSampler(4, 2)
    with pytest.raises(ValueError, match=_exact("total_steps must be ≥ 1, got 0")):
        s.set_progress(0, total_steps=0)
    with pytest.raises(ValueError, match=_exact("indices and losses must have the same length, got 2 and 1")):
        s.update([0, 1], [1.0])
    for bad in ([4], [-1], [0, 5]):
        with pytest.raises(ValueError, match=_exact("indices must lie in [0, 4)")):
            s.update(bad, [1.0] * len(bad))
    with pytest.raises(ValueError, match=_exact("HardnessAwareSampler state has num_samples=4, sampler has 5")):
        HardnessAwareSampler(5, 2).load_state_dict(s.state_dict())
    with pytest.raises(ValueError, match=_exact("HardnessAwareSampler state has batch_size=2, sampler has 3")):
        HardnessAwareSampler(4, 3).load_state_dict(s.state_dict())
    message = "HardnessAwareSampler state was drawn with draw='iteration', sampler has draw='index'; resume with flex.has.draw=iteration"
    with pytest.raises(ValueError, match=_exact(message)):
        HardnessAwareSampler(4, 2, draw="index").load_state_dict(s.state_dict())


def test_before_the_first_draw_no_draw_was_hard():
    s = HardnessAwareSampler(4, 2, schedule="none")  # threshold 0: every draw will be hard
    assert s.last_hard_fraction == 0.0 and type(s.last_hard_fraction) is float
    assert s.hard_fraction == 0.0 and s.num_draws == 0 and s.num_hard_draws == 0
    assert s.hard_mask(0) is None
    next(iter(s))
    assert s.last_hard_fraction == 1.0 and s.hard_fraction == 1.0


# ---- the all-gather of update() under DDP, in one process: rank 0 of two, rank 1 simulated ----

class _TwoRanks:
    """Stand-in for ``torch.distributed`` on rank 0 of an initialized two-process gloo
    group: ``all_gather`` returns this rank's tensor first and rank 1's second, where rank 1
    contributes ``other`` (indices, losses), zero-padded to the common width exactly as
    :meth:`HardnessAwareSampler._all_gather` pads on every rank."""

    def __init__(self, other_indices: list[int], other_losses: list[float]) -> None:
        self.other = [
            torch.tensor([len(other_indices)], dtype=torch.long),
            torch.tensor(other_indices, dtype=torch.long),
            torch.tensor(other_losses, dtype=torch.float64),
        ]
        self.calls = []

    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return True

    def get_world_size(self) -> int:
        return 2

    def get_backend(self) -> str:
        return "gloo"

    def all_gather(self, out: list[torch.Tensor], t: torch.Tensor) -> None:
        other = self.other[len(self.calls)]
        self.calls.append((t.dtype, tuple(t.shape), t.device.type))
        assert len(out) == 2 and all(o.shape == t.shape and o.dtype == t.dtype for o in out)
        assert t.dtype == other.dtype and t.is_contiguous()
        out[0].copy_(t)
        out[1].zero_()
        out[1][: other.numel()] = other


@pytest.mark.parametrize(("mine", "theirs"), [
    (([0, 3], [0.5, 1.25]), ([5, 1, 2], [2.0, 0.1 + 1e-12, 4.0])),  # this rank sends fewer
    (([4, 1, 2], [1.5, 2.5, 3.5]), ([5], [0.75])),  # this rank sends more
    (([], []), ([1, 2], [3.0, 1.0 / 3.0])),  # this rank sends nothing
])
def test_update_gathers_both_ranks_in_rank_order(monkeypatch, mine, theirs):
    import flexseg.flex.has as has_module

    fake = _TwoRanks(*theirs)
    monkeypatch.setattr(has_module, "dist", fake)
    s = HardnessAwareSampler(6, 2, rank=0, world_size=2, ema=0.5)
    s.update(torch.tensor(mine[0], dtype=torch.long), torch.tensor(mine[1], dtype=torch.float64))
    width = max(len(mine[0]), len(theirs[0]))
    assert fake.calls == [(torch.int64, (1,), "cpu"), (torch.int64, (width,), "cpu"), (torch.float64, (width,), "cpu")]
    expected_h = [0.0] * 6
    for i, loss in zip(mine[0] + theirs[0], mine[1] + theirs[1]):
        expected_h[i] = loss  # every index seen once: h = its loss, exactly (float64)
    assert s.h.tolist() == expected_h
    assert s.seen.tolist() == [i in mine[0] + theirs[0] for i in range(6)]
    assert s.step == 1


def test_all_gather_returns_indices_then_losses_in_rank_order(monkeypatch):
    import flexseg.flex.has as has_module

    monkeypatch.setattr(has_module, "dist", _TwoRanks([9, 8, 7], [0.25, 0.5, 0.125]))
    s = HardnessAwareSampler(10, 2, rank=0, world_size=2)
    idx, los = s._all_gather(torch.tensor([1], dtype=torch.long), torch.tensor([1.0 / 3.0], dtype=torch.float64))
    assert idx.dtype == torch.long and los.dtype == torch.float64
    assert idx.device.type == "cpu" and los.device.type == "cpu"
    assert idx.tolist() == [1, 9, 8, 7] and los.tolist() == [1.0 / 3.0, 0.25, 0.5, 0.125]


def test_a_repeated_index_across_ranks_is_an_ema_update_in_rank_order(monkeypatch):
    import flexseg.flex.has as has_module

    monkeypatch.setattr(has_module, "dist", _TwoRanks([2], [4.0]))
    s = HardnessAwareSampler(4, 1, rank=0, world_size=2, ema=0.75)
    s.update([2], [2.0])  # rank 0 first: h = 2, then rank 1: h = 0.75·2 + 0.25·4 = 2.5
    assert s.h.tolist() == [0.0, 0.0, 2.5, 0.0]


def test_a_sampler_of_one_rank_never_gathers(monkeypatch):
    import flexseg.flex.has as has_module

    fake = _TwoRanks([1], [1.0])
    monkeypatch.setattr(has_module, "dist", fake)
    s = HardnessAwareSampler(4, 1)  # world_size 1: the process group (even if any) is not used
    s.update([0], [2.0])
    assert fake.calls == [] and s.h.tolist() == [2.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("broken", ["is_available", "is_initialized", "get_world_size"])
def test_no_gather_without_an_initialized_group_of_several_processes(monkeypatch, broken):
    import flexseg.flex.has as has_module

    fake = _TwoRanks([1], [1.0])
    monkeypatch.setattr(fake, broken, (lambda: 1) if broken == "get_world_size" else (lambda: False))
    monkeypatch.setattr(has_module, "dist", fake)
    s = HardnessAwareSampler(4, 1, rank=1, world_size=2)
    s.update([0], [2.0])
    assert fake.calls == [] and s.h.tolist() == [2.0, 0.0, 0.0, 0.0]


def test_load_state_dict_converts_the_mask_to_bool_and_h_to_float64():
    # a state whose tensors were converted on the way (uint8 mask, float32 difficulties)
    s = HardnessAwareSampler(5, 2, seed=3)
    next(iter(s))
    s.update([0, 3], [1.5, 0.25])
    state = s.state_dict()
    state["seen"] = state["seen"].to(torch.uint8)
    state["h"] = state["h"].to(torch.float32)
    r = HardnessAwareSampler(5, 2, seed=3)
    r.load_state_dict(state)
    assert r.seen.dtype == torch.bool and r.h.dtype == torch.float64
    assert r.seen.tolist() == [True, False, False, True, False]
    assert r.h.tolist() == s.h.tolist()
    assert torch.equal(r.difficulties(), s.difficulties()) and torch.equal(r.probabilities(), s.probabilities())
    assert r.state_dict()["seen"].dtype == torch.bool
