"""HardnessAwareSampler: schedules, difficulty EMA, draw frequencies (chi-square), stream
epochs, exact resume with prefetched batches, DDP slicing."""
from __future__ import annotations

import io
import math
from collections import deque

import pytest
import torch

from flexseg.flex.has import HardnessAwareSampler, linear_threshold, sigmoid_threshold, threshold


# ----------------------------------------------------------------------------- schedules
def test_sigmoid_threshold_values():
    assert sigmoid_threshold(0) == pytest.approx(0.924, abs=5e-4)
    assert sigmoid_threshold(100) == pytest.approx(0.076, abs=5e-4)
    assert sigmoid_threshold(50) == pytest.approx(0.5)
    assert sigmoid_threshold(0) == pytest.approx(1 / (1 + math.exp(0.05 * (0 - 50))))
    assert sigmoid_threshold(30, k=0.1, midpoint=20) == pytest.approx(1 / (1 + math.exp(1.0)))
    assert sigmoid_threshold(1e6) == pytest.approx(0.0) and sigmoid_threshold(-1e6) == pytest.approx(1.0)
    ts = [sigmoid_threshold(t) for t in range(0, 101, 10)]
    assert all(a > b for a, b in zip(ts, ts[1:]))


def test_linear_and_none():
    assert linear_threshold(0) == 1.0 and linear_threshold(25) == 0.75 and linear_threshold(100) == 0.0
    assert threshold(40, "linear") == pytest.approx(0.6)
    assert threshold(0, "none") == 0.0 and threshold(100, "none") == 0.0
    with pytest.raises(ValueError):
        threshold(0, "cosine")
    with pytest.raises(ValueError):
        HardnessAwareSampler(10, 2, schedule="cosine")


def test_progress_from_updates_and_set_progress():
    s = HardnessAwareSampler(10, 2, total_steps=200)
    assert s.progress == 0.0 and s.threshold() == pytest.approx(sigmoid_threshold(0))
    for _ in range(50):
        s.update([0], [1.0])
    assert s.progress == pytest.approx(25.0)
    s.set_progress(100)
    assert s.threshold() == pytest.approx(0.5)
    s.set_progress(300)
    assert s.progress == 100.0
    lin = HardnessAwareSampler(10, 2, schedule="linear")
    assert lin.progress == 0.0  # total_steps unknown → t = 0
    lin.set_progress(30, total_steps=60)
    assert lin.threshold() == pytest.approx(0.5)


# ----------------------------------------------------------------------------- difficulties
def ref_difficulties(n, observations, ema):
    h, seen = [0.0] * n, [False] * n
    for i, loss in observations:
        if seen[i]:
            h[i] = ema * h[i] + (1 - ema) * loss
        else:
            h[i], seen[i] = loss, True
    seen_vals = [h[i] for i in range(n) if seen[i]]
    mean = sum(seen_vals) / len(seen_vals) if seen_vals else 0.0
    return [h[i] if seen[i] else mean for i in range(n)]


def test_difficulty_ema_matches_reference():
    gen = torch.Generator().manual_seed(0)
    s = HardnessAwareSampler(12, 3, ema=0.8)
    assert torch.equal(s.difficulties(), torch.zeros(12, dtype=torch.float64))
    obs = []
    for _ in range(9):
        idx = torch.randint(0, 6, (3,), generator=gen)  # indices 6..11 never seen; duplicates occur
        los = torch.rand(3, generator=gen) * 4
        s.update(idx, los)
        obs += list(zip(idx.tolist(), los.double().tolist()))
        ref = ref_difficulties(12, obs, 0.8)
        assert torch.allclose(s.difficulties(), torch.tensor(ref, dtype=torch.float64), atol=1e-12)


def test_update_inputs():
    s = HardnessAwareSampler(5, 2)
    s.update(torch.tensor([1, 2]), torch.tensor([0.5, float("nan")]))  # non-finite ignored
    assert s.seen.tolist() == [False, True, False, False, False]
    with pytest.raises(ValueError):
        s.update([1, 2], [1.0])
    with pytest.raises(ValueError):
        s.update([5], [1.0])


def test_probabilities_formula():
    s = HardnessAwareSampler(6, 2, temperature=0.5, total_steps=100)
    s.update([0, 1, 2], [1.0, 2.0, 3.0])
    s.set_progress(60)
    thr = sigmoid_threshold(60)
    d = [1.0, 2.0, 3.0, 2.0, 2.0, 2.0]
    z = sum(math.exp(v / 0.5) for v in d)
    ref = [thr / 6 + (1 - thr) * math.exp(v / 0.5) / z for v in d]
    p = s.probabilities()
    assert p.shape == (6,) and torch.allclose(p, torch.tensor(ref, dtype=torch.float64))
    assert p.sum().item() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- draws
# 99.9 % quantile of the chi-square distribution with 7 degrees of freedom, from a
# standard table (scipy is not installed): 24.322. With 8 categories (dof = 7), a fixed
# seed and a correct sampler, the statistic exceeds it with probability 0.001.
CHI2_7DOF_999 = 24.322


def chi_square(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs * counts.sum()
    assert bool((expected >= 5).all())
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("schedule, step", [("sigmoid", 50), ("sigmoid", 90), ("linear", 25), ("none", 0)])
def test_draw_frequencies_match_probabilities(schedule, step):
    # per-index draws are independent, so a chi-square test applies to every index
    n, bs, nb = 8, 50, 80  # 4000 draws at a fixed progress (no update during the epoch)
    s = HardnessAwareSampler(n, bs, schedule=schedule, seed=1, total_steps=100, batches_per_epoch=nb, draw="index")
    s.update(list(range(n)), [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 0.2, 1.2])
    s.set_progress(step)
    probs = s.probabilities()
    counts = torch.zeros(n, dtype=torch.float64)
    batches = list(s)
    assert len(batches) == nb and all(len(b) == bs for b in batches)
    for b in batches:
        counts += torch.bincount(torch.tensor(b), minlength=n).double()
    assert chi_square(counts, probs) < CHI2_7DOF_999
    # hard-draw share: binomial(4000, 1 − threshold), 5 standard deviations
    q = 1 - s.threshold()
    assert abs(s.hard_fraction - q) <= 5 * math.sqrt(q * (1 - q) / (bs * nb)) + 1e-12


def _all_hard_batches(draw: str, nb: int = 400, bs: int = 16, step: int = 50) -> tuple[int, HardnessAwareSampler]:
    """Batches made only of index 7, whose hard probability is ≈ 1 (h = 30 vs 0, T = 1)."""
    s = HardnessAwareSampler(8, bs, seed=5, total_steps=100, batches_per_epoch=nb, draw=draw)
    s.update(list(range(8)), [0.0] * 7 + [30.0])
    s.set_progress(step)
    fractions = []
    batches = []
    for b in s:
        batches.append(b)
        fractions.append(s.last_hard_fraction)
    if draw == "iteration":  # the decision is the batch's: all hard or all uniform
        assert set(fractions) <= {0.0, 1.0}
    return sum(all(i == 7 for i in b) for b in batches), s


def test_iteration_draw_decides_once_per_batch():
    nb = 400
    n_hard, s = _all_hard_batches("iteration", nb)
    q = 1 - s.threshold()  # 0.5 at the midpoint
    # a uniform batch of 16 is all-7 with probability 8^-16: the all-7 batches are the hard ones
    assert abs(n_hard - q * nb) <= 5 * math.sqrt(q * (1 - q) * nb)
    assert s.hard_fraction == pytest.approx(n_hard / nb)
    # per index, an all-7 batch needs 16 independent hard-or-7 draws: (0.5 + 0.5/8)^16 ≈ 1e-4
    n_hard_index, _ = _all_hard_batches("index", nb)
    assert n_hard_index <= 2


def test_iteration_draw_marginals_match_probabilities():
    # batch-level decisions: per-batch counts are the independent unit (mean over 2000 batches)
    n, bs, nb = 8, 4, 2000
    s = HardnessAwareSampler(n, bs, seed=2, total_steps=100, batches_per_epoch=nb, draw="iteration")
    s.update(list(range(n)), [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 0.2, 1.2])
    s.set_progress(40)
    counts = torch.stack([torch.bincount(torch.tensor(b), minlength=n).double() for b in s])  # [nb, n]
    mean, se = counts.mean(0) / bs, counts.std(0) / bs / math.sqrt(nb)
    assert bool(((mean - s.probabilities()).abs() <= 5 * se + 1e-9).all())


def test_draw_mode_checked_and_kept_in_state():
    with pytest.raises(ValueError, match="draw"):
        HardnessAwareSampler(10, 2, draw="batch")
    a = HardnessAwareSampler(10, 2, draw="index")
    state = a.state_dict()
    assert state["draw"] == "index"
    with pytest.raises(ValueError, match="flex.has.draw=index"):
        HardnessAwareSampler(10, 2).load_state_dict(state)
    legacy = dict(state)
    del legacy["draw"]  # checkpoints written before the option drew per index
    HardnessAwareSampler(10, 2, draw="index").load_state_dict(legacy)


def test_uniform_before_any_feedback():
    s = HardnessAwareSampler(8, 50, seed=3, batches_per_epoch=80)
    counts = torch.zeros(8, dtype=torch.float64)
    for b in s:
        counts += torch.bincount(torch.tensor(b), minlength=8).double()
    assert torch.allclose(s.probabilities(), torch.full((8,), 1 / 8, dtype=torch.float64))
    assert chi_square(counts, s.probabilities()) < CHI2_7DOF_999


def test_hard_sampling_prefers_hard_images():
    s = HardnessAwareSampler(20, 10, schedule="none", seed=0, batches_per_epoch=20)
    s.update(list(range(20)), [0.0] * 3 + [10.0] + [0.0] * 16)
    counts = torch.zeros(20)
    for b in s:
        counts += torch.bincount(torch.tensor(b), minlength=20).float()
    assert counts.argmax().item() == 3 and counts[3] > 0.9 * counts.sum()


def test_determinism_and_seed():
    a, b, c = (HardnessAwareSampler(30, 4, seed=s, batches_per_epoch=5) for s in (7, 7, 8))
    assert list(a) == list(b)
    assert list(HardnessAwareSampler(30, 4, seed=7, batches_per_epoch=5)) != list(c)


# ----------------------------------------------------------------------------- stream / epochs
def test_len_and_epochs_end_at_multiples():
    s = HardnessAwareSampler(25, 4)
    assert len(s) == 6
    assert len(HardnessAwareSampler(3, 4)) == 1
    assert len(HardnessAwareSampler(25, 4, world_size=2)) == 3
    assert len(list(s)) == 6 and len(list(s)) == 6
    it = iter(s)
    for _ in range(4):
        next(it)
    # a new iterator continues the stream and stops at the next multiple of len()
    assert len(list(iter(s))) == 2
    assert len(list(s)) == 6


def loss_of(batch):
    return [float((i * 37) % 11) / 3 for i in batch]


def simulate(sampler, steps, depth, stop_after=None):
    """A DataLoader-like loop: each epoch a fresh iterator, ``depth`` batches prefetched
    before the step that consumes a batch feeds its losses back. Returns the consumed
    batches per epoch; stops after ``steps`` steps."""
    epochs, done = [], 0
    while done < steps:
        it = iter(sampler)
        buf = deque()
        for _ in range(depth):
            try:
                buf.append(next(it))
            except StopIteration:
                break
        epoch = []
        while done < steps:
            try:
                buf.append(next(it))
            except StopIteration:
                pass
            if not buf:
                break
            batch = buf.popleft()
            sampler.update(batch, loss_of(batch))
            epoch.append(batch)
            done += 1
        epochs.append(epoch)
    return epochs


@pytest.mark.parametrize("depth, save_at", [(0, 7), (2, 7), (3, 10), (2, 12), (2, 11)])
def test_exact_resume_with_prefetched_batches(depth, save_at):
    kw = dict(num_samples=13, batch_size=3, schedule="sigmoid", seed=5, total_steps=30, k=0.3)
    full = HardnessAwareSampler(**kw)  # len = 4 batches per epoch
    ref = [b for e in simulate(HardnessAwareSampler(**kw), 30, depth) for b in e]

    # run until save_at steps, save mid-stream (pending batches included), resume in a fresh sampler
    first = simulate(full, save_at, depth)
    state = full.state_dict()
    assert len(state["pending"]) == min(depth, (-save_at) % 4)
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    resumed = HardnessAwareSampler(**kw)
    resumed.load_state_dict(state)
    rest = simulate(resumed, 30 - save_at, depth)
    got = [b for e in first + rest for b in e]
    assert got == ref
    # the resumed epoch ends where the uninterrupted one would have
    assert len(rest[0]) == 4 - save_at % 4
    again = HardnessAwareSampler(**kw)
    simulate(again, 30, depth)
    assert torch.equal(resumed.h, again.h) and torch.equal(resumed.seen, again.seen)
    assert resumed.step == again.step == 30


def test_state_dict_round_trip_next_draws():
    a = HardnessAwareSampler(40, 5, seed=2, total_steps=10, schedule="linear")
    it = iter(a)
    drawn = [next(it) for _ in range(3)]  # three drawn, one consumed → two pending
    a.update(drawn[0], loss_of(drawn[0]))
    state = a.state_dict()
    b = HardnessAwareSampler(40, 5, seed=99, total_steps=10, schedule="linear")
    b.load_state_dict(state)
    assert torch.equal(b.generator.get_state(), a.generator.get_state())
    nb = iter(b)
    assert [next(nb), next(nb)] == drawn[1:]  # replayed pending batches
    assert next(nb) == next(it)  # then identical fresh draws
    with pytest.raises(ValueError):
        HardnessAwareSampler(41, 5).load_state_dict(state)


# ----------------------------------------------------------------------------- DDP slicing
def test_ddp_slices_form_the_global_batch():
    kw = dict(num_samples=50, batch_size=3, seed=4, batches_per_epoch=4)
    r0 = HardnessAwareSampler(rank=0, world_size=2, **kw)
    r1 = HardnessAwareSampler(rank=1, world_size=2, **kw)
    single = HardnessAwareSampler(50, 6, seed=4, batches_per_epoch=4)
    b0, b1, bs = list(r0), list(r1), list(single)
    assert all(len(b) == 3 for b in b0 + b1)
    assert [x + y for x, y in zip(b0, b1)] == bs
    with pytest.raises(ValueError):
        HardnessAwareSampler(rank=2, world_size=2, **kw)


def test_usable_as_dataloader_batch_sampler():
    data = torch.arange(100).float()
    s = HardnessAwareSampler(100, 4, seed=0)
    loader = torch.utils.data.DataLoader(data, batch_sampler=s)
    assert len(loader) == 25
    batches = list(loader)
    assert len(batches) == 25 and all(b.shape == (4,) for b in batches)
