"""What to generate for image ``i``: seed, rare class, source frame, crop box, prompt, weather.

Everything here is a pure function of (``seed``, ``i``, the class statistics, the source
label) — independent of sharding, of the device and of what was generated before — so a
shard, a resumed run and a fresh run plan the same image identically.

Rare-class sampling follows DAFormer / DGInStyle (see ``docs/generation.md``): pixel
frequency f_c of each train id over the source set (over all labelled pixels),
P(c) = softmax((1 − f_c) / T) restricted to the classes with at least one frame holding
more than ``min_pixels`` of c; the frame is
uniform among those; the crop is centred on a uniformly drawn pixel of c, clamped to the
frame, re-drawn up to ``tries`` times until c covers more than ``min_crop_fraction`` of it.
"""
from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flexseg.data.labels import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES

#: DGInStyle's weather words (``controlnet/gen_datasets.py``).
WEATHERS: tuple[str, ...] = ("snowy", "rainy", "sunny", "foggy", "night")
STATS_VERSION = 1


def image_seed(seed: int, index: int) -> int:
    """The 63-bit seed of generated image ``index`` of a run with ``seed`` (SeedSequence hash)."""
    if index < 0 or seed < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def class_counts(label: np.ndarray) -> np.ndarray:
    """int64 [NUM_CLASSES]: pixels of each train id in an [H,W] train-id label (255 not counted)."""
    flat = np.asarray(label).reshape(-1).astype(np.int64)
    return np.bincount(flat[flat < NUM_CLASSES], minlength=NUM_CLASSES)[:NUM_CLASSES]


@dataclass(frozen=True)
class ClassStats:
    """Per-frame pixel counts of the source set: ``counts[f, c]`` pixels of class c in frame f."""

    frames: tuple[str, ...]
    counts: np.ndarray  # int64 [F, NUM_CLASSES]

    def to_json(self) -> dict[str, Any]:
        return {"version": STATS_VERSION, "frames": list(self.frames), "counts": self.counts.tolist()}


def _count_one(args: tuple[Callable[[int], np.ndarray], int]) -> np.ndarray:
    load, i = args
    return class_counts(load(i))


def class_statistics(frames: Sequence[str], load_label: Callable[[int], np.ndarray],
                     cache: Path | None = None, workers: int = 0,
                     track: Callable[[Iterable[np.ndarray], int], Iterable[np.ndarray]] | None = None) -> ClassStats:
    """Pixel counts per frame and class, read from ``cache`` when it lists the same frames.

    ``load_label(i)`` returns frame i's [H,W] train ids. The cache (JSON) is written
    atomically after a computation; a cache for other frames is recomputed, never trusted.
    ``workers`` > 1 counts in that many processes (``load_label`` must then be picklable);
    ``track(iterable, total)`` wraps the per-frame results (a progress bar).
    """
    frames = tuple(frames)
    if cache is not None and cache.is_file():
        try:
            data = json.loads(cache.read_text())
        except (OSError, json.JSONDecodeError):
            data = None
        if data and data.get("version") == STATS_VERSION and tuple(data.get("frames", ())) == frames:
            return ClassStats(frames, np.asarray(data["counts"], dtype=np.int64).reshape(len(frames), NUM_CLASSES))
    wrap = track or (lambda it, total: it)
    if workers > 1 and len(frames) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            rows = list(wrap(pool.map(_count_one, [(load_label, i) for i in range(len(frames))], chunksize=16),
                             len(frames)))
    else:
        rows = list(wrap((class_counts(load_label(i)) for i in range(len(frames))), len(frames)))
    counts = np.stack(rows) if rows else np.zeros((0, NUM_CLASSES), dtype=np.int64)
    stats = ClassStats(frames, counts.astype(np.int64))
    if cache is not None:
        atomic_write_text(cache, json.dumps(stats.to_json()))
    return stats


def temp_path(path: Path) -> Path:
    """Hidden temporary sibling ``.<name>.<host>-<pid>.tmp`` (unique per process, also across
    the nodes of a cluster writing to one shared folder)."""
    return path.with_name(f".{path.name}.{socket.gethostname()}-{os.getpid()}.tmp")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a hidden temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass(frozen=True)
class RareClassTable:
    """Classes that can be sampled, their probabilities, and the frames eligible for each."""

    classes: np.ndarray          # int64 [K]
    probs: np.ndarray            # float64 [K], sums to 1
    frames: tuple[np.ndarray, ...]  # per class: int64 indices into ClassStats.frames


def rare_class_table(stats: ClassStats, temperature: float = 0.01, min_pixels: int = 3000) -> RareClassTable:
    """DAFormer's rare-class sampling table from the pixel counts (see the module docstring)."""
    if temperature <= 0:
        raise ValueError(f"rare-class temperature must be > 0, got {temperature}")
    total = stats.counts.sum(axis=0).astype(np.float64)
    eligible = [np.flatnonzero(stats.counts[:, c] > min_pixels) for c in range(NUM_CLASSES)]
    classes = np.array([c for c in range(NUM_CLASSES) if total[c] > 0 and len(eligible[c])], dtype=np.int64)
    if len(classes) == 0:
        raise ValueError(f"no class covers more than min_pixels={min_pixels} pixels of any of the "
                         f"{len(stats.frames)} source frames: lower crops.min_pixels or check the labels")
    freq = total[classes] / total.sum()  # frequencies over every labelled class, as DAFormer
    logits = (1.0 - freq) / temperature
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return RareClassTable(classes, probs, tuple(eligible[c] for c in classes))


def sample_class_and_frame(table: RareClassTable, rng: np.random.Generator) -> tuple[int, int]:
    """(class, frame index) drawn from ``table`` (two draws of ``rng``)."""
    k = int(rng.choice(len(table.classes), p=table.probs))
    frames = table.frames[k]
    return int(table.classes[k]), int(frames[rng.integers(len(frames))])


def sample_crop(label: np.ndarray, cls: int, rng: np.random.Generator, size: int,
                min_fraction: float = 0.01, tries: int = 10) -> tuple[int, int, int, int]:
    """Crop box (x1, y1, x2, y2) of ``size``² centred on a random pixel of ``cls``, clamped.

    Up to ``tries`` centres are drawn; the first crop where ``cls`` covers more than
    ``min_fraction`` of the crop is kept, else the last one (DGInStyle's rule).
    """
    h, w = label.shape
    if h < size or w < size:
        raise ValueError(f"source label of {w}x{h} is smaller than the {size}x{size} crop")
    ys, xs = np.nonzero(label == cls)
    if len(ys) == 0:
        raise ValueError(f"class {cls} does not occur in the source label")
    box = (0, 0, size, size)
    for _ in range(max(1, tries)):
        j = int(rng.integers(len(ys)))
        x1 = min(max(0, int(xs[j]) - size // 2), w - size)
        y1 = min(max(0, int(ys[j]) - size // 2), h - size)
        box = (x1, y1, x1 + size, y1 + size)
        if (label[y1:y1 + size, x1:x1 + size] == cls).sum() > min_fraction * size * size:
            break
    return box


def class_phrase(label: np.ndarray) -> str:
    """Names of the train ids present in ``label``, in id order, joined by spaces (DGInStyle)."""
    present = [int(v) for v in np.unique(label) if v != IGNORE_INDEX and v < NUM_CLASSES]
    return " ".join(CLASS_NAMES[v] for v in present)


def build_prompt(label: np.ndarray, weather: str | None) -> str:
    """DGInStyle's prompt: the class phrase, or with a weather word
    ``"A city street scene with <classes>, in <weather> weather."``."""
    phrase = class_phrase(label)
    if weather is None:
        return phrase
    return f"A city street scene with {phrase}, in {weather} weather."


def sample_weather(rng: np.random.Generator, prob: float, weathers: Sequence[str] = WEATHERS) -> str | None:
    """A weather word with probability ``prob`` (uniform among ``weathers``), else None."""
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"weather.prob must be in [0, 1], got {prob}")
    use = rng.random() < prob
    if use and weathers:
        return str(weathers[int(rng.integers(len(weathers)))])
    return None


@dataclass(frozen=True)
class ImagePlan:
    """Everything that defines generated image ``index`` except the diffusion noise."""

    index: int
    seed: int            # the image's own seed (also seeds the diffusion noise)
    cls: int
    frame: int           # index into the source frames
    frame_key: str
    box: tuple[int, int, int, int]
    weather: str | None
    prompt: str

    @property
    def name(self) -> str:
        """File stem: unique per index, names the source frame."""
        return image_name(self.index, self.frame_key)


def image_name(index: int, frame_key: str) -> str:
    """File stem of generated image ``index`` cropped from source frame ``frame_key``."""
    return f"{index:06d}_{frame_key.replace('/', '_')}"


def plan_head(run_seed: int, index: int, table: RareClassTable) -> tuple[np.random.Generator, int, int, int]:
    """(rng, image seed, class, frame) — the part of a plan that needs no label file."""
    s = image_seed(run_seed, index)
    rng = np.random.default_rng(s)
    cls, frame = sample_class_and_frame(table, rng)
    return rng, s, cls, frame


def plan_image(run_seed: int, index: int, table: RareClassTable, frames: Sequence[str],
               load_label: Callable[[int], np.ndarray], size: int, weather_prob: float,
               weathers: Sequence[str] = WEATHERS, min_fraction: float = 0.01,
               tries: int = 10) -> tuple[ImagePlan, np.ndarray]:
    """The plan of image ``index`` and its [size,size] uint8 train-id label crop."""
    rng, s, cls, frame = plan_head(run_seed, index, table)
    label = load_label(frame)
    try:
        box = sample_crop(label, cls, rng, size, min_fraction, tries)
    except ValueError as e:
        raise ValueError(f"source frame {frames[frame]!r}: {e}") from e
    x1, y1, x2, y2 = box
    crop = np.ascontiguousarray(label[y1:y2, x1:x2]).astype(np.uint8)
    weather = sample_weather(rng, weather_prob, weathers)
    plan = ImagePlan(index, s, cls, frame, frames[frame], box, weather, build_prompt(crop, weather))
    return plan, crop


def shard_indices(num_images: int, shard: int, num_shards: int) -> range:
    """Indices of shard ``shard`` of ``num_shards``: the contiguous block [lo, hi)."""
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"need 0 <= shard < num_shards, got shard={shard}, num_shards={num_shards}")
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    lo = num_images * shard // num_shards
    hi = num_images * (shard + 1) // num_shards
    return range(lo, hi)
