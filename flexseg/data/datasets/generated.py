"""Generated training sets (DGInStyle, ALDM, …): an image folder + a label folder.

Default layout = DGInStyle's released set (mmseg GTADataset convention):
``<root>/images/<name>.png`` + ``<root>/labels/<name>_labelTrainIds.png`` (train ids).
Everything is configurable: ``image_dir``, ``label_dir``, ``image_suffix``,
``label_suffix`` (a file pairs with the label of the same name once the suffixes are
removed) and ``label_encoding`` (``trainids`` or ``ids`` = Cityscapes label ids, whose
converted copies prepare --cache writes as ``<name>_labelTrainIds.png`` in ``label_dir``).

If ``<root>/<split>`` is a folder, the pair is looked up inside it; otherwise directly
in ``<root>`` (splits ``train`` / ``all``). ``num_images`` picks a subset (the paper's
volume ablation): None = all, 0 = an empty dataset (nothing is read from disk), n = n
images drawn without replacement by ``seed`` — deterministic and independent of
file-system order (the pair list is sorted by name first).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from flexseg.data.datasets.base import (
    TRAINID_SUFFIX,
    DatasetLayout,
    DatasetLayoutError,
    Folders,
    LabelFile,
    PairedFolderDataset,
    Pairs,
    SizeMismatch,
    UnknownIds,
)


def subset_indices(total: int, num_images: int | None, seed: int) -> list[int]:
    """Sorted indices of a deterministic random subset of ``num_images`` out of ``total``."""
    if num_images is None:
        return list(range(total))
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0 or None, got {num_images}")
    if num_images > total:
        raise ValueError(
            f"num_images={num_images} but only {total} image/label pairs exist (the published DGInStyle set has "
            f"7,000; the paper mixes 10,000). Use all of them with data.num_generated=null (or ={total}), or "
            "generate more images with DGInStyle")
    perm = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))
    return sorted(perm[:num_images].tolist())


@dataclass(frozen=True)
class GeneratedLayout(DatasetLayout):
    """Folder names, suffixes and encoding are options; ``[<split>/]`` is optional; a
    subset of ``num_images`` pairs (0: an empty dataset, nothing read from disk)."""

    num_images: int | None = None
    seed: int = 0

    def checked(self, split: str) -> GeneratedLayout:
        if self.label_encoding not in ("ids", "trainids"):
            raise ValueError(f"generated: label_encoding must be 'ids' or 'trainids', got {self.label_encoding!r}")
        if self.label_encoding == "ids" and self.label_suffix == TRAINID_SUFFIX:
            raise ValueError(f"generated: label_encoding 'ids' cannot use label_suffix {TRAINID_SUFFIX!r} "
                             "(that name holds the converted train-id cache)")
        return self if self.num_images is None else replace(self, num_images=int(self.num_images))

    def collect(self, root: Path, split: str, *, strict: bool, size_mismatch: SizeMismatch, unknown_ids: UnknownIds,
                domain: str, transform: Callable[[dict[str, Any]], dict[str, Any]] | None) -> PairedFolderDataset:
        if self.num_images == 0:
            return PairedFolderDataset([], [], self.converter, domain, transform=transform)
        return super().collect(root, split, strict=strict, size_mismatch=size_mismatch, unknown_ids=unknown_ids,
                               domain=domain, transform=transform)

    def folders(self, root: Path, split: str) -> list[Folders]:
        base = root / split if (root / split).is_dir() else root
        if base == root and split not in ("train", "all"):
            raise DatasetLayoutError(f"generated: split folder {root / split} not found (splits 'train'/'all' "
                                     f"read {root} directly).\nExpected layout under {root}:\n{self.layout}")
        return [Folders(base / self.image_dir, base / self.label_dir)]

    def hint(self, root: Path, folders: Sequence[Folders]) -> str:
        return f"{self.label_dir}/<name>{self.label_suffix}"

    def pair(
        self, root: Path, split: str, images: Mapping[str, Path], labels: Mapping[str, LabelFile], *,
        strict: bool, label_hint: str,
    ) -> Pairs:
        pairs = super().pair(root, split, images, labels, strict=strict, label_hint=label_hint)
        keep = subset_indices(len(pairs.images), self.num_images, self.seed) if pairs.images else []
        return Pairs([pairs.images[i] for i in keep], [pairs.labels[i] for i in keep], pairs.problems)


GENERATED = GeneratedLayout(
    name="generated", folder="dginstyle", default_split="train",
    label_suffix=TRAINID_SUFFIX, trainid_suffix=TRAINID_SUFFIX,  # the cache name, whatever label_suffix is
    layout=(
        "  [<split>/]<image_dir>/<name><image_suffix>     (default images/<name>.png)\n"
        "  [<split>/]<label_dir>/<name><label_suffix>     (default labels/<name>_labelTrainIds.png)"
    ),
    obtain=(
        "download the DGInStyle generated dataset from the DGInStyle project page (or generate "
        "images from GTA masks with DGInStyle / ALDM) and unpack it into <root>"
    ),
    options={
        "image_dir": "image folder (under <root>[/<split>])", "label_dir": "label folder (under <root>[/<split>])",
        "image_suffix": "end of an image file name", "label_suffix": "end of a label file name",
        "label_encoding": "trainids or ids (Cityscapes label ids)",
        "num_images": "a random subset of that many pairs (None: all, 0: none)", "seed": "of the subset",
    },
)
