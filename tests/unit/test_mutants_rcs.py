"""RCS tests written against the mutants that survived ``make mutation`` (docs/testing.md).

They pin what tests/unit/test_rcs.py left open: the documented defaults (the reference's
T = 0.01, 3000 pixels, crop ratio 0.5, seed 0), the draws' seed formula (a recorded run's
draws depend on it), classes with 0 or 1 pixel, min_pixels 0, ties of the class order,
the exact (not 1e-5-relative) class totals, the reference's second cache file, DAFormer's
``_labelIds`` / ``.jpg`` names, the bounds of the argument checks, the subset's own
temperature / min_pixels, and how strictly a checkpoint's probabilities must match.
Expected values are computed here by hand or by loops.
"""
from __future__ import annotations

import inspect
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
    stats_key,
    write_class_stats,
)

PER_FILE = [{0: 50_000, 2: 4000, 5: 3001}, {0: 60_000, 5: 3000, 12: 9000}, {2: 100, 12: 3500, 18: 7000},
            {0: 40_000, 18: 2999, 5: 8000}]


def _defaults(fn) -> dict:
    return {n: p.default for n, p in inspect.signature(fn).parameters.items() if p.default is not inspect.Parameter.empty}


def _slow_probs(pixels: dict[int, int], T: float) -> dict[int, float]:
    total = sum(n for n in pixels.values() if n > 0)
    z = {c: math.exp((1.0 - n / total) / T - 1.0 / T) for c, n in pixels.items() if n > 0}
    s = sum(z.values())
    return {c: v / s for c, v in z.items()}


def test_documented_defaults_are_the_reference_values():
    """DAFormer's rcs_class_temp 0.01, rcs_min_pixels 3000, rcs_min_crop_ratio 0.5 (conf/data/gta_dginstyle.yaml):
    in the signatures and in what a call without them does."""
    assert _defaults(rcs_class_probabilities) == {"temperature": 0.01}
    assert _defaults(RareClassSampler) == {"temperature": 0.01, "min_pixels": 3000, "min_crop_ratio": 0.5, "seed": 0}
    assert _defaults(rcs_subset) == {"temperature": 0.01, "min_pixels": 3000, "seed": 0}
    px = {0: 500, 1: 300, 2: 200}
    assert rcs_class_probabilities(px)[1].tolist() == rcs_class_probabilities(px, 0.01)[1].tolist()
    s = RareClassSampler(PER_FILE)
    explicit = RareClassSampler(PER_FILE, temperature=0.01, min_pixels=3000, min_crop_ratio=0.5, seed=0)
    assert s.state_dict()["seed"] == 0 and s.crop_min_pixels == 1500 and s.files == explicit.files
    assert s.probs.tolist() == explicit.probs.tolist()
    per_file = [{1 + i % 3: 2997 + i} for i in range(9)]  # class pixels 2997 … 3005: 3001 is eligible
    assert rcs_subset(per_file, 4) == rcs_subset(per_file, 4, temperature=0.01, min_pixels=3000, seed=0)
    assert {f for f, _ in rcs_subset(per_file, 5)} == {4, 5, 6, 7, 8}  # with the file of 3001 pixels


def _expected_draw(probs: torch.Tensor, classes, files, seed: int, position: int, slot: int):
    """The documented stream: a generator seeded ((seed·1000003 + position)·8191 + slot + 0x5EED) mod 2⁶³,
    a class by multinomial(p), a file uniformly among the class's files."""
    g = torch.Generator().manual_seed(((seed * 1_000_003 + position) * 8191 + slot + 0x5EED) % 2**63)
    c = classes[int(torch.multinomial(probs, 1, generator=g))]
    return files[c][int(torch.randint(len(files[c]), (1,), generator=g))], c


def _wrapping_seed() -> int:
    """A seed whose generator seed for (position 0, slot 0) lies in [2⁶³, 2⁶⁴) before the mod 2⁶³."""
    s = (2**63 - 0x5EED) // (1_000_003 * 8191) + 1
    assert 2**63 <= (s * 1_000_003) * 8191 + 0x5EED < 2**64
    return s


@pytest.mark.parametrize("seed", [0, 7, 2**62 + 12345, _wrapping_seed()])
def test_draws_follow_the_documented_seed_formula(seed):
    s = RareClassSampler(PER_FILE, temperature=1.0, min_pixels=100, seed=seed)
    for position, slot in [(0, 0), (0, 1), (3, 0), (12345, 5), (2**40, 3)]:
        assert s.draw(position, slot) == _expected_draw(s.probs, s.classes, s.files, seed, position, slot)


def test_sampler_probabilities_use_the_exact_class_totals():
    """p from the summed pixels (exactly: a total off by one pixel changes p in the 6th digit)."""
    per_file = [{0: 7, 1: 3}, {1: 2, 2: 9}, {0: 1}]
    s = RareClassSampler(per_file, temperature=0.05, min_pixels=0, min_crop_ratio=0.0)
    ref = _slow_probs({0: 8, 1: 5, 2: 9}, 0.05)
    assert s.classes == [1, 0, 2]
    assert s.probs.tolist() == pytest.approx([ref[1], ref[0], ref[2]], rel=1e-12)
    assert s.file_probabilities(3).dtype == torch.float64


def test_classes_with_zero_or_one_pixel_and_ties():
    assert label_class_pixels(np.array([[4, 0, 0]], dtype=np.uint8)) == {0: 2, 4: 1}  # a single pixel counts
    classes, p = rcs_class_probabilities({3: 0, 7: 1, 2: 5, 9: 5, 1: 5}, 1.0)
    assert classes == [7, 1, 2, 9]  # no class without pixels; 1 pixel counts; ties by class id
    ref = _slow_probs({7: 1, 1: 5, 2: 5, 9: 5}, 1.0)
    assert p.tolist() == pytest.approx([ref[c] for c in classes], rel=1e-12)
    with pytest.raises(ValueError, match="temperature"):
        rcs_class_probabilities({1: 5}, 0.0)


def test_min_pixels_zero_makes_every_file_with_the_class_eligible_and_no_other():
    assert files_with_class([{0: 1}, {1: 4}, {0: 0}], [0, 1], 0) == {0: [0], 1: [1]}
    s = RareClassSampler([{0: 1}, {1: 4}], min_pixels=0)
    assert s.files == {0: [0], 1: [1]}
    with pytest.raises(ValueError, match="≥ 0"):
        RareClassSampler(PER_FILE, min_pixels=-1)
    with pytest.raises(ValueError, match="≥ 0"):
        RareClassSampler(PER_FILE, min_pixels=10, min_crop_ratio=-0.5)


def test_stats_key_strips_every_daformer_suffix():
    assert stats_key("/x/gta/labels/00009_labelIds.png") == "00009"
    assert stats_key("labels/00010_labelTrainIds.jpg") == "00010"
    assert stats_key("a/b/frame_labelIds") == "frame"


def test_write_class_stats_writes_the_reference_samples_with_class_cache(tmp_path):
    write_class_stats(tmp_path, [("labels/1.png", {3: 5, 0: 2}), ("labels/2.png", {3: 1})])
    with_class = json.loads((tmp_path / "samples_with_class.json").read_text())
    assert with_class == {"0": [["labels/1.png", 2]], "3": [["labels/1.png", 5], ["labels/2.png", 1]]}


def _slow_subset(per_file, n, T, min_pixels, seed):
    """DGInStyle's tools/rcs_sample_gta.py with a seeded torch generator."""
    totals: dict[int, int] = {}
    for px in per_file:
        for c, k in px.items():
            totals[c] = totals.get(c, 0) + k
    ref = _slow_probs(totals, T)
    classes = sorted(ref, key=lambda c: (totals[c], c))
    probs = torch.tensor([ref[c] for c in classes], dtype=torch.float64)
    files = {c: [i for i, px in enumerate(per_file) if px.get(c, 0) > min_pixels] for c in classes}
    g = torch.Generator().manual_seed(seed)
    chosen, taken = [], set()
    while len(chosen) < n:
        c = classes[int(torch.multinomial(probs, 1, generator=g))]
        f = files[c][int(torch.randint(len(files[c]), (1,), generator=g))]
        if f not in taken:
            taken.add(f)
            chosen.append((f, c))
    return chosen


def test_subset_uses_its_temperature_min_pixels_and_seed():
    per_file = [{0: 900 + 40 * i, 1 + i % 4: 300 + 25 * i} for i in range(16)]
    for T, min_pixels, seed in ((0.3, 500, 2), (0.01, 350, 5)):
        got = rcs_subset(per_file, 9, temperature=T, min_pixels=min_pixels, seed=seed)
        assert got == _slow_subset(per_file, 9, T, min_pixels, seed)
    # every eligible file can be asked for (not one fewer)
    eligible = {i for i, px in enumerate(per_file) if any(k > 500 for k in px.values())}
    assert {f for f, _ in rcs_subset(per_file, len(eligible), temperature=1.0, min_pixels=500)} == eligible


def test_checkpoint_probabilities_must_match_to_1e_12():
    s = RareClassSampler(PER_FILE, temperature=0.5, min_pixels=3000, seed=3)
    state = s.state_dict()
    s.load_state_dict({**state, "probs": state["probs"].tolist()})  # a list (e.g. from a converted checkpoint) loads
    s.load_state_dict({**state, "probs": state["probs"] + 5e-13})
    for probs in (state["probs"] * (1 + 1e-7), state["probs"] + 1e-10, state["probs"] + 0.5):
        with pytest.raises(ValueError, match="probabilities"):
            s.load_state_dict({**state, "probs": probs})


def test_error_messages():
    with pytest.raises(ValueError, match=r"^label holds value 19, not a train id < 19 or 255$"):
        label_class_pixels(np.array([[19, 255]], dtype=np.uint8))
    with pytest.raises(ValueError, match=r"^RCS: the class statistics hold no labelled pixel$"):
        rcs_class_probabilities({3: 0})
    with pytest.raises(ValueError, match=r"^RCS: no files$"):
        RareClassSampler([])
    with pytest.raises(ValueError, match=r"lower data\.rcs\.min_pixels or check the class statistics \(prepare gta --stats\)$"):
        RareClassSampler([{0: 10, 1: 5}], min_pixels=8)
    s = RareClassSampler(PER_FILE, temperature=0.5, seed=3)
    with pytest.raises(ValueError, match=r"^checkpoint rare-class sampling has seed=4, this run has 3 \(data\.rcs or the class "
                                         r"statistics differ from the checkpoint's run\)$"):
        s.load_state_dict({**s.state_dict(), "seed": 4})
    with pytest.raises(ValueError, match=r"^checkpoint rare-class probabilities differ from this run's \(class statistics changed\)$"):
        s.load_state_dict({**s.state_dict(), "probs": s.probs + 0.1})


def test_subset_gives_up_on_files_reachable_only_through_unlikely_classes():
    """File 0 holds only the most common class (p ≈ e^-97 at T = 0.01): never drawn."""
    per_file = [{0: 100_000}] + [{0: 100_000, 1: 4000}] * 3
    with pytest.raises(RuntimeError, match=r"^RCS subset: only 3 of 4 distinct files after many draws \(the remaining files are "
                                           r"reachable only through very unlikely classes\)$"):
        rcs_subset(per_file, 4)
