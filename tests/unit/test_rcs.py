"""Rare-class sampling (flexseg.data.rcs) against slow references, and its wiring in the
datamodule: which draws it replaces, determinism, exact resume with uniform and HAS sampling."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from flexseg.data.rcs import (
    RareClassSampler,
    files_with_class,
    label_class_pixels,
    rcs_class_probabilities,
    rcs_subset,
    read_class_stats,
    write_class_stats,
)
from flexseg.data.transforms import TrainTransform


def slow_probabilities(pixels: dict[int, int], T: float) -> dict[int, float]:
    """p(c) = exp((1 − f_c)/T) / Σ exp((1 − f_c')/T), written out with Python floats."""
    total = sum(pixels.values())
    z = {c: math.exp((1.0 - n / total) / T - 1.0 / T) for c, n in pixels.items() if n > 0}  # shifted, same ratio
    s = sum(z.values())
    return {c: v / s for c, v in z.items()}


PER_FILE = [{0: 50_000, 2: 4000, 5: 3001}, {0: 60_000, 5: 3000, 12: 9000}, {2: 100, 12: 3500, 18: 7000},
            {0: 40_000, 18: 2999, 5: 8000}]


def totals(per_file):
    out: dict[int, int] = {}
    for px in per_file:
        for c, n in px.items():
            out[c] = out.get(c, 0) + n
    return out


@pytest.mark.parametrize("T", [0.01, 0.05, 1.0])
def test_class_probabilities_match_slow_reference(T):
    classes, p = rcs_class_probabilities(totals(PER_FILE), T)
    ref = slow_probabilities(totals(PER_FILE), T)
    assert sorted(classes) == sorted(ref)
    counts = totals(PER_FILE)
    assert [counts[c] for c in classes] == sorted(counts.values())     # rarest first, as the reference
    for c, value in zip(classes, p.tolist()):
        assert value == pytest.approx(ref[c], rel=1e-9, abs=1e-300)
    assert float(p.sum()) == pytest.approx(1.0)


def test_eligible_files_need_strictly_more_than_min_pixels():
    files = files_with_class(PER_FILE, [0, 2, 5, 12, 18], 3000)
    assert files == {0: [0, 1, 3], 2: [0], 5: [0, 3], 12: [1, 2], 18: [2]}


def test_file_probabilities_and_draws_match_slow_reference():
    s = RareClassSampler(PER_FILE, temperature=0.5, min_pixels=3000, min_crop_ratio=2.0, seed=3)
    ref_p = slow_probabilities(totals(PER_FILE), 0.5)
    eligible = {c: [i for i, px in enumerate(PER_FILE) if px.get(c, 0) > 3000] for c in ref_p}
    ref_file = np.zeros(len(PER_FILE))
    for c, pc in ref_p.items():
        for f in eligible[c]:
            ref_file[f] += pc / len(eligible[c])
    assert np.allclose(s.file_probabilities(len(PER_FILE)).numpy(), ref_file, atol=1e-12)
    draws = [s.draw(pos, slot) for pos in range(3000) for slot in range(2)]
    for f, c in draws[:200]:
        assert f in eligible[c]                      # the file holds > min_pixels of the drawn class
    freq = np.bincount([f for f, _ in draws], minlength=len(PER_FILE)) / len(draws)
    assert np.abs(freq - ref_file).max() < 0.02      # 6000 draws: std ≤ 0.0065
    cls_freq = {c: sum(1 for _, k in draws if k == c) / len(draws) for c in ref_p}
    assert max(abs(cls_freq[c] - ref_p[c]) for c in ref_p) < 0.02
    assert s.crop_min_pixels == 6000


def test_draws_are_a_function_of_seed_position_slot():
    a = RareClassSampler(PER_FILE, 0.5, 3000, seed=0)
    b = RareClassSampler(PER_FILE, 0.5, 3000, seed=0)
    c = RareClassSampler(PER_FILE, 0.5, 3000, seed=1)
    seq = [a.draw(p, s) for p in range(50) for s in range(2)]
    assert seq == [b.draw(p, s) for p in range(50) for s in range(2)]
    assert seq[::-1] == [b.draw(p, s) for p in reversed(range(50)) for s in reversed(range(2))]  # order-free
    assert seq != [c.draw(p, s) for p in range(50) for s in range(2)]


def test_class_without_eligible_file_is_an_error():
    with pytest.raises(ValueError, match="class"):
        RareClassSampler([{0: 10, 1: 5}], min_pixels=8)


def test_label_class_pixels_and_stats_round_trip(tmp_path):
    label = np.array([[0, 0, 255], [3, 3, 3]], dtype=np.uint8)
    assert label_class_pixels(label) == {0: 2, 3: 3}
    with pytest.raises(ValueError):
        label_class_pixels(np.array([[19]], dtype=np.uint8))
    path = write_class_stats(tmp_path, [("labels/00001.png", {0: 2, 3: 3}), ("labels/00002.png", {5: 1})])
    records = json.loads(path.read_text())
    assert records[0] == {"0": 2, "3": 3, "file": "labels/00001.png"}        # DAFormer's format
    assert read_class_stats(path) == {"00001": {0: 2, 3: 3}, "00002": {5: 1}}
    # DAFormer's own file (absolute _labelTrainIds paths) reads the same way
    (tmp_path / "daformer.json").write_text(json.dumps([{"7": 4, "file": "/x/gta/labels/00009_labelTrainIds.png"}]))
    assert read_class_stats(tmp_path / "daformer.json") == {"00009": {7: 4}}
    with pytest.raises(FileNotFoundError, match="prepare gta"):
        read_class_stats(tmp_path / "absent.json")


def test_subset_is_deterministic_distinct_and_rcs_drawn():
    per_file = [{0: 10_000, c: 4000 + 10 * i} for i, c in enumerate([1, 2, 3, 4, 5] * 4)]
    a = rcs_subset(per_file, 12, temperature=0.01, min_pixels=3000, seed=0)
    assert a == rcs_subset(per_file, 12, temperature=0.01, min_pixels=3000, seed=0)
    assert a != rcs_subset(per_file, 12, temperature=0.01, min_pixels=3000, seed=1)
    assert len({f for f, _ in a}) == 12
    assert all(per_file[f].get(c, 0) > 3000 for f, c in a)
    with pytest.raises(ValueError, match="only 20"):
        rcs_subset(per_file, 21, min_pixels=3000)


# ------------------------------------------------------------------ crop re-draw
def test_crop_is_redrawn_until_it_holds_the_sampled_class():
    label = torch.zeros(64, 256, dtype=torch.long)
    label[:, 240:] = 7                                  # class 7 only in the rightmost 16 columns
    label[:32, :] = torch.where(label[:32, :] == 0, 1, label[:32, :])
    t = TrainTransform(resize=None, crop_size=(64, 64), cat_max_ratio=1.0, flip_p=0.0, photometric=False)
    base = {"image": torch.zeros(3, 64, 256, dtype=torch.uint8), "label": label}
    hits = 0
    for seed in range(40):
        out = t({**base, "sampled_class": 7, "min_class_pixels": 500}, generator=torch.Generator().manual_seed(seed))
        hits += int((out["label"] == 7).sum() > 500)
    # one uniform crop holds > 500 px of class 7 with p = 9/193; with ≤ 10 re-draws, 1 − (184/193)^11 ≈ 0.41
    assert hits >= 8
    plain = sum(int((t(base, generator=torch.Generator().manual_seed(s))["label"] == 7).sum() > 500) for s in range(40))
    assert plain < hits
    # the sample's own threshold wins over the constructor's (None here), and the re-draw stops at 10
    calls = []
    gen = torch.Generator().manual_seed(0)
    import flexseg.data.transforms as T

    original = T.random_crop_box
    T.random_crop_box = lambda *a: calls.append(1) or original(*a)
    try:
        t({**base, "sampled_class": 9, "min_class_pixels": 1}, generator=gen)   # class absent: never satisfied
    finally:
        T.random_crop_box = original
    assert len(calls) == 11                                                     # first draw + 10 re-draws


# ------------------------------------------------------------------ datamodule wiring
# fixture ``trees`` (GTA + generated trees with class statistics): tests/unit/conftest.py


def make_dm(root, has: bool, seed: int = 0, enabled: bool = True, schedule: str = "linear"):
    from flexseg.data.datamodule import SegDataModule
    from flexseg.data.datasets import build

    gta, gen = build("gta", root / "gta"), build("generated", root / "gen")
    has_cfg = {"enabled": has, "schedule": schedule, "temperature": 1.0} if has else None
    rcs = {"enabled": enabled, "set": "gta", "temperature": 0.5, "min_pixels": 5, "min_crop_ratio": 0.5}
    return SegDataModule({"gta": gta, "generated": gen}, {"t": gen}, batch_size=4, has=has_cfg, seed=seed,
                         max_steps=100, rcs=rcs)


def test_rcs_replaces_uniform_gta_draws_only(trees):
    from flexseg.data.datamodule import SeededBatches

    dm = make_dm(trees, has=False)
    n_gta = 6
    stream = SeededBatches(dm.sampler, dm.seed, dm.rcs)
    plain = SeededBatches(make_dm(trees, has=False, enabled=False).sampler, dm.seed)
    for batch, ref in zip(stream, plain):
        for item, (i0, seed0) in zip(batch, ref):
            assert item[1] == seed0                                   # same augmentation seed
            if i0 >= n_gta:
                assert item == (i0, seed0)                            # generated slot untouched
            else:
                assert len(item) == 3 and 0 <= item[0] < n_gta        # GTA slot → an RCS file of GTA
                assert item[2]["min_class_pixels"] == 2 and 0 <= item[2]["sampled_class"] < 19
    seen = {}
    dm.train_set.parts[0].transform = lambda s: seen.update(s) or s   # what the GTA transform receives
    sample = dm.train_set[(0, 5, {"sampled_class": 3, "min_class_pixels": 2})]
    assert seen["sampled_class"] == 3 and seen["min_class_pixels"] == 2
    assert "sampled_class" not in sample and "min_class_pixels" not in sample
    from flexseg.data.datamodule import collate

    batch = collate([dm.train_set[(0, 5, {"sampled_class": 3, "min_class_pixels": 2})], dm.train_set[(7, 6)]])
    assert batch["domain"] == ["gta", "generated"]          # a GTA sample with crop hints first, then generated


def test_rcs_keeps_has_hard_draws(trees):
    from flexseg.data.datamodule import SeededBatches

    dm = make_dm(trees, has=True, schedule="none")  # every draw is hard
    batches = []
    for k, batch in enumerate(SeededBatches(dm.sampler, dm.seed, dm.rcs)):
        batches.append(batch)
        dm.record_losses(torch.tensor([b[0] for b in batch]), torch.rand(len(batch)))
        if k == 5:
            break
    assert all(len(item) == 2 for batch in batches for item in batch)


def _run(dm, steps: int, stop_after: int | None = None, prefetch: int = 2):
    """Consume batches like Lightning: within an epoch the iterator runs ``prefetch`` batches
    ahead of the training step, which feeds the losses back; a new epoch starts when the
    iterator is exhausted and its batches are consumed."""
    from flexseg.data.datamodule import SeededBatches

    out = []
    while True:
        it = iter(SeededBatches(dm.sampler, dm.seed, dm.rcs))
        queue, exhausted = [], False
        while True:
            while not exhausted and len(queue) < prefetch:
                try:
                    queue.append(next(it))
                except StopIteration:
                    exhausted = True
            if not queue:
                break
            batch = queue.pop(0)
            out.append(batch)
            idx = torch.tensor([b[0] for b in batch])
            dm.record_losses(idx, (idx.double() * 0.37 + len(out)) % 5)   # deterministic "losses"
            if stop_after is not None and len(out) == stop_after:
                return out, dm.state_dict()
            if len(out) == steps:
                return out, None


@pytest.mark.parametrize("has", [False, True])
def test_resume_with_rcs_is_exact(trees, has):
    full, _ = _run(make_dm(trees, has), 12)           # HAS linear over 100 steps: mostly uniform draws
    first, state = _run(make_dm(trees, has), 12, stop_after=5)
    resumed = make_dm(trees, has)
    resumed.load_state_dict(state)
    rest, _ = _run(resumed, 7)
    assert first + rest == full
    assert any(len(item) == 3 for batch in full for item in batch)       # RCS did act
    other = make_dm(trees, has, seed=1)
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(state)
    off = make_dm(trees, has, enabled=False)
    with pytest.raises(ValueError, match="rcs"):
        off.load_state_dict(state)


def test_collate_names_the_images_when_sizes_differ():
    from flexseg.data.datamodule import collate

    a = {"image": torch.zeros(3, 4, 4), "label": torch.zeros(4, 4), "path": "a.png"}
    b = {"image": torch.zeros(3, 8, 8), "label": torch.zeros(8, 8), "path": "b.png"}
    assert collate([a, a])["image"].shape == (2, 3, 4, 4)
    with pytest.raises(RuntimeError, match=r"a.png \(4, 4\), b.png \(8, 8\)"):
        collate([a, b])


def test_ddp_ranks_take_slices_of_the_single_process_rcs_batch(trees):
    """Two ranks with batch 2 yield exactly the two halves of one process with batch 4:
    same indices, augmentation seeds and rare-class draws (draws are keyed by global slot)."""
    from flexseg.data.datamodule import RCSRange, SeededBatches
    from flexseg.data.samplers import UniformBatchSampler

    rcs = make_dm(trees, has=False).rcs
    one = list(SeededBatches(UniformBatchSampler(10, 4, seed=2), 2, RCSRange(rcs.sampler, 0, 6)))
    ranks = [list(SeededBatches(UniformBatchSampler(10, 2, seed=2, rank=r, world_size=2), 2,
                                RCSRange(rcs.sampler, 0, 6))) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] == one
    assert any(len(item) == 3 for batch in one for item in batch)


def test_min_crop_ratio_zero_turns_the_redraw_off():
    """Ratio 0 (the reference's ``rcs_min_crop_ratio = 0``): one crop, even when the GTA
    transform has its own ``min_class_pixels`` (DAFormer's 1500)."""
    import flexseg.data.transforms as T

    s = RareClassSampler(PER_FILE, temperature=0.5, min_pixels=3000, min_crop_ratio=0.0, seed=3)
    assert s.crop_min_pixels == 0
    t = TrainTransform(resize=None, crop_size=(64, 64), cat_max_ratio=1.0, flip_p=0.0, photometric=False,
                       min_class_pixels=1500)
    base = {"image": torch.zeros(3, 64, 256, dtype=torch.uint8), "label": torch.zeros(64, 256, dtype=torch.long)}
    calls = []
    original = T.random_crop_box
    T.random_crop_box = lambda *a: calls.append(1) or original(*a)
    try:
        t({**base, "sampled_class": 9, "min_class_pixels": s.crop_min_pixels}, generator=torch.Generator().manual_seed(0))
        assert len(calls) == 1
        t({**base, "sampled_class": 9}, generator=torch.Generator().manual_seed(0))  # the transform's own rule
        assert len(calls) == 1 + 11
    finally:
        T.random_crop_box = original
