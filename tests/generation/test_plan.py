"""Pure parts of the generator (plan, fusion helpers) against slow, obvious references."""
from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
import torch

from flexseg.generation import plan as P
from flexseg.generation.fusion import axis_starts, large_components_mask, one_hot_condition, window_views

NAMES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
         "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]


def test_image_seed_deterministic_distinct_and_order_independent():
    seeds = [P.image_seed(7, i) for i in range(200)]
    assert seeds == [P.image_seed(7, i) for i in range(200)]
    assert len(set(seeds)) == 200
    assert P.image_seed(8, 0) != P.image_seed(7, 0)
    assert all(0 <= s < 2 ** 63 for s in seeds)
    with pytest.raises(ValueError):
        P.image_seed(-1, 0)


def test_class_counts_matches_loop():
    rng = np.random.default_rng(0)
    label = rng.choice([*range(19), 255], size=(13, 17)).astype(np.uint8)
    expected = [sum(1 for v in label.ravel() if v == c) for c in range(19)]
    assert P.class_counts(label).tolist() == expected


def test_rare_class_table_matches_softmax_reference():
    counts = np.zeros((4, 19), dtype=np.int64)
    counts[0, 0], counts[1, 0], counts[2, 13], counts[3, 13], counts[3, 5] = 9000, 7000, 4000, 2500, 3100
    counts[1, 18] = 100  # never above min_pixels -> not sampleable
    table = P.rare_class_table(P.ClassStats(("a", "b", "c", "d"), counts), temperature=0.05, min_pixels=3000)
    assert table.classes.tolist() == [0, 5, 13]
    tot = {0: 16000, 5: 3100, 13: 6500}
    s = sum(tot.values()) + 100  # class 18 counts in the frequencies but cannot be drawn
    logits = {c: (1 - n / s) / 0.05 for c, n in tot.items()}
    z = sum(math.exp(v) for v in logits.values())
    assert table.probs.tolist() == pytest.approx([math.exp(logits[c]) / z for c in (0, 5, 13)])
    assert [f.tolist() for f in table.frames] == [[0, 1], [3], [2]]  # 2500 px of 13 in frame d: not > 3000
    with pytest.raises(ValueError, match="min_pixels"):
        P.rare_class_table(P.ClassStats(("a",), np.zeros((1, 19), dtype=np.int64)))


def test_rare_classes_drawn_more_often():
    counts = np.zeros((2, 19), dtype=np.int64)
    counts[0, 0], counts[1, 12] = 1_000_000, 5000
    table = P.rare_class_table(P.ClassStats(("a", "b"), counts), temperature=0.01, min_pixels=10)
    draws = [P.sample_class_and_frame(table, np.random.default_rng(i)) for i in range(300)]
    assert sum(c == 12 for c, _ in draws) > 250
    assert all(f == (0 if c == 0 else 1) for c, f in draws)


def test_sample_crop_centres_on_class_and_clamps():
    label = np.full((40, 60), 2, dtype=np.uint8)
    label[35:40, 55:60] = 11  # a small object in the bottom-right corner
    for s in range(20):
        x1, y1, x2, y2 = P.sample_crop(label, 11, np.random.default_rng(s), 16)
        assert (x2 - x1, y2 - y1) == (16, 16)
        assert 0 <= x1 and x2 <= 60 and 0 <= y1 and y2 <= 40
        assert (label[y1:y2, x1:x2] == 11).any()
        assert (x1, y1) == (44, 24)  # clamped to the border
    with pytest.raises(ValueError, match="smaller"):
        P.sample_crop(label, 11, np.random.default_rng(0), 64)
    with pytest.raises(ValueError, match="does not occur"):
        P.sample_crop(label, 5, np.random.default_rng(0), 16)


def test_prompt_wording():
    label = np.array([[13, 0, 255], [11, 0, 13]], dtype=np.uint8)
    assert P.class_phrase(label) == "road person car"
    assert P.build_prompt(label, None) == "road person car"
    assert P.build_prompt(label, "foggy") == "A city street scene with road person car, in foggy weather."
    assert P.WEATHERS == ("snowy", "rainy", "sunny", "foggy", "night")


def test_weather_probability():
    draws = [P.sample_weather(np.random.default_rng(i), 0.5) for i in range(2000)]
    frac = sum(d is not None for d in draws) / len(draws)
    assert 0.45 < frac < 0.55
    assert {d for d in draws if d} == set(P.WEATHERS)
    assert all(P.sample_weather(np.random.default_rng(i), 0.0) is None for i in range(50))
    with pytest.raises(ValueError):
        P.sample_weather(np.random.default_rng(0), 1.5)


def test_shard_indices_partition():
    for n, k in [(10, 3), (7, 7), (5, 8), (0, 2)]:
        parts = [list(P.shard_indices(n, s, k)) for s in range(k)]
        assert sorted(sum(parts, [])) == list(range(n))
    with pytest.raises(ValueError):
        P.shard_indices(10, 3, 3)


def test_one_hot_condition_matches_loop():
    rng = np.random.default_rng(1)
    label = rng.choice([*range(19), 255], size=(6, 5)).astype(np.uint8)
    out = one_hot_condition(label)
    assert out.shape == (1, 20, 6, 5) and out.dtype == torch.float32
    for y in range(6):
        for x in range(5):
            c = 19 if label[y, x] == 255 else int(label[y, x])
            expect = torch.zeros(20)
            expect[c] = 1
            assert torch.equal(out[0, :, y, x], expect)
    with pytest.raises(ValueError, match="outside"):
        one_hot_condition(np.full((2, 2), 30, dtype=np.uint8))


def _components_reference(label, min_area):
    """Breadth-first flood fill, 8-connectivity."""
    h, w = label.shape
    seen = np.zeros_like(label, dtype=bool)
    out = np.zeros_like(label, dtype=bool)
    for y in range(h):
        for x in range(w):
            if seen[y, x] or label[y, x] == 255:
                continue
            c, comp, queue = label[y, x], [], deque([(y, x)])
            seen[y, x] = True
            while queue:
                cy, cx = queue.popleft()
                comp.append((cy, cx))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = cy + dy, cx + dx
                        if 0 <= ny < h and 0 <= nx < w and not seen[ny, nx] and label[ny, nx] == c:
                            seen[ny, nx] = True
                            queue.append((ny, nx))
            if len(comp) > min_area:
                for cy, cx in comp:
                    out[cy, cx] = True
    return out


@pytest.mark.parametrize("min_area", [0, 3, 8, 20])
def test_large_components_matches_flood_fill(min_area):
    rng = np.random.default_rng(min_area)
    label = rng.choice([0, 1, 13, 255], size=(24, 20), p=[0.4, 0.3, 0.2, 0.1]).astype(np.uint8)
    got = large_components_mask(label, min_area)
    assert np.array_equal(got, _components_reference(label, min_area))
    assert got.any() and not got.all()


def _get_views_dginstyle(h, w, window, stride):
    """DGInStyle's grid (latent units, no border alignment)."""
    nh, nw = (h - window) // stride + 1, (w - window) // stride + 1
    return [(i * stride, i * stride + window, j * stride, j * stride + window) for i in range(nh) for j in range(nw)]


def test_window_views_equal_dginstyle_grid_when_divisible_and_cover_otherwise():
    assert window_views(128, 128, 64, 8) == _get_views_dginstyle(128, 128, 64, 8)
    assert len(window_views(128, 128, 64, 8)) == 81
    views = window_views(20, 13, 8, 5)
    cover = np.zeros((20, 13), dtype=int)
    for y0, y1, x0, x1 in views:
        assert y1 - y0 == 8 and x1 - x0 == 8
        cover[y0:y1, x0:x1] += 1
    assert (cover > 0).all()
    assert axis_starts(13, 8, 5) == [0, 5]
    assert window_views(8, 8, 8, 8) == [(0, 8, 0, 8)]
    with pytest.raises(ValueError):
        axis_starts(4, 8, 1)


def test_class_statistics_cache_and_workers(tmp_path):
    rng = np.random.default_rng(3)
    labels = [rng.choice([0, 5, 13, 255], size=(8, 9)).astype(np.uint8) for _ in range(3)]
    loads = []

    def load(i):
        loads.append(i)
        return labels[i]

    cache = tmp_path / "stats.json"
    seen = []
    stats = P.class_statistics(["a", "b", "c"], load, cache, track=lambda it, n: (seen.append(n), it)[1])
    assert seen == [3] and loads == [0, 1, 2]
    assert stats.counts.tolist() == [P.class_counts(lab).tolist() for lab in labels]
    again = P.class_statistics(["a", "b", "c"], load, cache)
    assert loads == [0, 1, 2] and np.array_equal(again.counts, stats.counts)  # read from the cache
    other = P.class_statistics(["a", "b"], load, cache)  # other frames: recomputed, never trusted
    assert loads == [0, 1, 2, 0, 1] and other.counts.shape == (2, 19)
    par = P.class_statistics(["a", "b", "c"], _Loader(labels), None, workers=2)
    assert np.array_equal(par.counts, stats.counts)


class _Loader:
    def __init__(self, labels):
        self.labels = labels

    def __call__(self, i):
        return self.labels[i]


def test_generate_config_defaults_and_slurm_launcher_compose():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from tests.integration.test_configs import CONF

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="generate", overrides=["hydra/launcher=submitit_slurm", "shard=3", "num_shards=16"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher.gpus_per_node == 1 and cfg.shard == 3 and cfg.num_shards == 16
    assert (cfg.steps, cfg.guidance, cfg.resolution, cfg.weather.prob) == (20, 7.5, 512, 0.5)
    assert cfg.fusion.enabled is True and cfg.fusion.scale == 2 and cfg.fusion.stride == 8
    assert list(cfg.weather.words) == list(P.WEATHERS) and cfg.model.unet is None


def test_plan_image_is_pure_and_names_a_too_small_frame():
    counts = np.zeros((2, 19), dtype=np.int64)
    counts[:, 0], counts[:, 13] = 900, 100
    table = P.rare_class_table(P.ClassStats(("f0", "f1"), counts), min_pixels=50)
    labels = [np.zeros((40, 50), np.uint8) for _ in range(2)]
    for lab in labels:
        lab[20:30, 10:20] = 13
    a = [P.plan_image(3, i, table, ["f0", "f1"], labels.__getitem__, 16, 0.5) for i in range(6)]
    b = [P.plan_image(3, i, table, ["f0", "f1"], labels.__getitem__, 16, 0.5) for i in reversed(range(6))][::-1]
    assert [p for p, _ in a] == [p for p, _ in b]
    for (plan, crop) in a:
        x1, y1, x2, y2 = plan.box
        assert np.array_equal(crop, labels[plan.frame][y1:y2, x1:x2]) and plan.cls in crop
        assert plan.name == f"{plan.index:06d}_{plan.frame_key}"
    with pytest.raises(ValueError, match="source frame 'f"):
        P.plan_image(3, 0, table, ["f0", "f1"], lambda i: np.zeros((8, 8), np.uint8), 16, 0.5)
