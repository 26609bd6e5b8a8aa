"""Rare-class sampling (RCS; DAFormer, Hoyer et al. CVPR 2022; used by HRDA and DGInStyle).

Class statistics: per training file, the number of pixels of each train id in its
full-resolution label (``python -m flexseg.data.prepare gta --stats`` computes them once
and caches them as ``<root>/sample_class_stats.json``, the file name and format of
DAFormer's ``tools/convert_datasets/gta.py``: a list of ``{"<train id>": pixels, …,
"file": "<label path>"}`` with only the classes present).

Sampling (DAFormer ``UDADataset.get_rare_class_source_sample``):

- class frequency f_c = (pixels of c) / (all labelled pixels), over the classes present;
- p(c) = softmax((1 − f_c) / T), T = 0.01 (:func:`rcs_class_probabilities`);
- a class c ~ p, then a file uniformly among the files holding more than ``min_pixels``
  (3000) pixels of c (:func:`files_with_class`; strictly more, as the reference);
- the crop of that file is re-drawn (up to 10 times) until it holds more than
  ``min_pixels · min_crop_ratio`` pixels of c (:class:`flexseg.data.transforms.TrainTransform`;
  the sampler hands the class and that threshold to the sample; min_crop_ratio 0 = no re-draw).

Randomness: a draw is a function of (seed, stream position of the batch, slot in the
global batch) through a generator seeded from those three numbers
(:meth:`RareClassSampler.draw`). Draws therefore do not depend on worker scheduling,
prefetch depth or the rank that makes them, and a resumed run repeats them exactly
without replaying anything; the checkpoint stores the sampler's settings and class
probabilities (:meth:`RareClassSampler.state_dict`) and refuses a resume with others.
How RCS combines with the batch sampler (uniform / HAS) is described in
:mod:`flexseg.data.datamodule` and docs/data_protocol.md.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flexseg.data.labels import IGNORE_INDEX, NUM_CLASSES

STATS_FILE = "sample_class_stats.json"
#: the reference's second cache: class → [[file, pixels], …] (written for compatibility)
SAMPLES_WITH_CLASS_FILE = "samples_with_class.json"

ClassPixels = Mapping[int, int]


def label_class_pixels(label: np.ndarray, num_classes: int = NUM_CLASSES,
                       ignore_index: int = IGNORE_INDEX) -> dict[int, int]:
    """{train id: pixel count} of a train-id label [H,W], only classes with a count > 0."""
    values = np.asarray(label).reshape(-1)
    values = values[values != ignore_index]
    if values.size and int(values.max()) >= num_classes:
        raise ValueError(f"label holds value {int(values.max())}, not a train id < {num_classes} or {ignore_index}")
    counts = np.bincount(values.astype(np.int64), minlength=num_classes)
    return {c: int(n) for c, n in enumerate(counts) if n > 0}


def write_class_stats(root: Path | str, stats: Sequence[tuple[str, ClassPixels]]) -> Path:
    """Write ``sample_class_stats.json`` (+ ``samples_with_class.json``) under ``root``;
    ``stats`` = (label file relative to root, class pixels) per file. Returns the path."""
    root = Path(root)
    records = [{**{str(c): int(n) for c, n in sorted(px.items())}, "file": f} for f, px in stats]
    with_class: dict[str, list[list[Any]]] = {}
    for f, px in stats:
        for c, n in sorted(px.items()):
            with_class.setdefault(str(c), []).append([f, int(n)])
    path = root / STATS_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(records, indent=1))
    tmp.replace(path)
    (root / SAMPLES_WITH_CLASS_FILE).write_text(json.dumps(with_class, indent=1))
    return path


def stats_key(file: str) -> str:
    """Frame key of a stats ``file`` entry (``…/labels/00001_labelTrainIds.png`` → ``00001``)."""
    name = Path(str(file)).name
    for suffix in (".png", ".jpg"):
        name = name.removesuffix(suffix)
    return name.removesuffix("_labelTrainIds").removesuffix("_labelIds")


def read_class_stats(path: Path | str) -> dict[str, dict[int, int]]:
    """{frame key: {train id: pixels}} from a ``sample_class_stats.json`` (ours or DAFormer's)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"rare-class sampling needs the class statistics {path}, which do not exist; compute them once "
            f"with: python -m flexseg.data.prepare gta --root {path.parent} --stats"
        )
    out: dict[str, dict[int, int]] = {}
    for record in json.loads(path.read_text()):
        record = dict(record)
        file = record.pop("file")
        out[stats_key(file)] = {int(c): int(n) for c, n in record.items()}
    return out


def rcs_class_probabilities(class_pixels: ClassPixels, temperature: float = 0.01) -> tuple[list[int], torch.Tensor]:
    """(classes, p) with p(c) = softmax((1 − f_c)/T), f_c = pixels_c / Σ pixels.

    Only classes with pixels > 0 take part; they are ordered by ascending pixel count
    (ties by class id), as the reference. p is float64 [len(classes)].
    """
    if temperature <= 0:
        raise ValueError(f"RCS temperature must be > 0, got {temperature}")
    items = sorted(((int(c), int(n)) for c, n in class_pixels.items() if n > 0), key=lambda cn: (cn[1], cn[0]))
    if not items:
        raise ValueError("RCS: the class statistics hold no labelled pixel")
    classes = [c for c, _ in items]
    freq = torch.tensor([n for _, n in items], dtype=torch.float64)
    freq = freq / freq.sum()
    return classes, torch.softmax((1.0 - freq) / temperature, dim=0)


def files_with_class(per_file: Sequence[ClassPixels], classes: Sequence[int], min_pixels: int) -> dict[int, list[int]]:
    """class → indices (into ``per_file``) of the files with more than ``min_pixels`` pixels of it."""
    return {c: [i for i, px in enumerate(per_file) if px.get(c, 0) > min_pixels] for c in classes}


def _position_seed(seed: int, position: int, slot: int) -> int:
    return ((int(seed) * 1_000_003 + int(position)) * 8191 + int(slot) + 0x5EED) % (2**63)


class RareClassSampler:
    """Draws (file, class) pairs of one dataset by rare-class sampling (module docstring).

    Args:
        per_file: class pixels of every file of the dataset, in dataset order.
        temperature: T of the class softmax (0.01).
        min_pixels: a file is eligible for c when it holds more than this many pixels of c (3000).
        min_crop_ratio: the crop is re-drawn until it holds more than
            ``min_pixels·min_crop_ratio`` pixels of c (DAFormer 0.5, HRDA 2.0; 0 = no re-draw).
        seed: the draws' seed.
    """

    def __init__(self, per_file: Sequence[ClassPixels], temperature: float = 0.01, min_pixels: int = 3000,
                 min_crop_ratio: float = 0.5, seed: int = 0) -> None:
        if min_pixels < 0 or min_crop_ratio < 0:
            raise ValueError(f"RCS min_pixels and min_crop_ratio must be ≥ 0, got {min_pixels}, {min_crop_ratio}")
        if not per_file:
            raise ValueError("RCS: no files")
        total: dict[int, int] = {}
        for px in per_file:
            for c, n in px.items():
                total[int(c)] = total.get(int(c), 0) + int(n)
        self.classes, self.probs = rcs_class_probabilities(total, temperature)
        self.files = files_with_class(per_file, self.classes, min_pixels)
        empty = [c for c in self.classes if not self.files[c]]
        if empty:
            raise ValueError(
                f"RCS: no file holds more than min_pixels={min_pixels} pixels of class(es) {empty}; lower "
                "data.rcs.min_pixels or check the class statistics (prepare gta --stats)")
        self.temperature, self.min_pixels = float(temperature), int(min_pixels)
        self.min_crop_ratio, self.seed = float(min_crop_ratio), int(seed)

    @property
    def crop_min_pixels(self) -> int:
        """Pixels of the sampled class a crop must exceed (0: no re-draw, as the reference's
        ``rcs_min_crop_ratio = 0``; 0 also overrides the transform's own ``min_class_pixels``)."""
        if self.min_crop_ratio <= 0:
            return 0
        return math.floor(self.min_pixels * self.min_crop_ratio)

    def draw(self, position: int, slot: int) -> tuple[int, int]:
        """(file index, class) for slot ``slot`` of the global batch at stream ``position``."""
        g = torch.Generator().manual_seed(_position_seed(self.seed, position, slot))
        c = self.classes[int(torch.multinomial(self.probs, 1, generator=g))]
        files = self.files[c]
        return files[int(torch.randint(len(files), (1,), generator=g))], c

    def file_probabilities(self, num_files: int) -> torch.Tensor:
        """Probability of drawing each file [num_files] float64: Σ_c p(c)·[f eligible for c]/|files_c|."""
        out = torch.zeros(num_files, dtype=torch.float64)
        for c, p in zip(self.classes, self.probs.tolist()):
            out[self.files[c]] += p / len(self.files[c])
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "temperature": self.temperature, "min_pixels": self.min_pixels,
                "min_crop_ratio": self.min_crop_ratio, "classes": list(self.classes), "probs": self.probs.clone(),
                "num_files": {int(c): len(f) for c, f in self.files.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Check that a checkpoint's RCS equals this one (draws are stateless; see the module docstring)."""
        mine = self.state_dict()
        for key in ("seed", "temperature", "min_pixels", "min_crop_ratio", "classes", "num_files"):
            if state[key] != mine[key]:
                raise ValueError(f"checkpoint rare-class sampling has {key}={state[key]}, this run has {mine[key]} "
                                 "(data.rcs or the class statistics differ from the checkpoint's run)")
        if not torch.allclose(torch.as_tensor(state["probs"], dtype=torch.float64), self.probs, rtol=0, atol=1e-12):
            raise ValueError("checkpoint rare-class probabilities differ from this run's (class statistics changed)")


def rcs_subset(per_file: Sequence[ClassPixels], num_files: int, temperature: float = 0.01, min_pixels: int = 3000,
               seed: int = 0) -> list[tuple[int, int]]:
    """``num_files`` distinct files drawn by rare-class sampling: [(file index, class)], in draw order.

    DGInStyle's ``tools/rcs_sample_gta.py`` (the 6,000-frame ``gta6000_rcs1e-2`` subset of the
    DAFormer setting): repeat (c ~ p, file uniform among the files with more than
    ``min_pixels`` of c), skipping a file already chosen, until ``num_files`` are chosen.
    Deterministic given ``seed`` (the reference used an unseeded numpy generator).
    """
    sampler = RareClassSampler(per_file, temperature, min_pixels, min_crop_ratio=0.0, seed=seed)
    eligible = set().union(*(set(f) for f in sampler.files.values()))
    if num_files > len(eligible):
        raise ValueError(f"RCS subset of {num_files} files asked, but only {len(eligible)} files hold more than "
                         f"min_pixels={min_pixels} pixels of some class")
    g = torch.Generator().manual_seed(int(seed))
    chosen: list[tuple[int, int]] = []
    taken: set[int] = set()
    for _ in range(1000 * num_files + 100_000):
        if len(chosen) == num_files:
            break
        c = sampler.classes[int(torch.multinomial(sampler.probs, 1, generator=g))]
        files = sampler.files[c]
        f = files[int(torch.randint(len(files), (1,), generator=g))]
        if f in taken:
            continue
        taken.add(f)
        chosen.append((f, c))
    else:
        raise RuntimeError(f"RCS subset: only {len(chosen)} of {num_files} distinct files after many draws "
                           "(the remaining files are reachable only through very unlikely classes)")
    return chosen
