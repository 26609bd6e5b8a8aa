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

from pathlib import Path
from typing import Any

import torch

from flexseg.data.datasets.base import (
    ENCODINGS,
    TRAINID_SUFFIX,
    DatasetInfo,
    DatasetLayoutError,
    PairedFolderDataset,
    as_path,
    finish,
    index_files,
    index_labels,
    pair_files,
)

INFO = DatasetInfo(
    name="generated",
    folder="dginstyle",
    default_split="train",
    layout=(
        "  [<split>/]<image_dir>/<name><image_suffix>     (default images/<name>.png)\n"
        "  [<split>/]<label_dir>/<name><label_suffix>     (default labels/<name>_labelTrainIds.png)"
    ),
    obtain=(
        "download the DGInStyle generated dataset from the DGInStyle project page (or generate "
        "images from GTA masks with DGInStyle / ALDM) and unpack it into <root>"
    ),
    options={k: "" for k in ("image_dir", "label_dir", "image_suffix", "label_suffix", "label_encoding",
                             "num_images", "seed")},
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


def build_generated(
    root: Path | str,
    split: str = "train",
    *,
    image_dir: str = "images",
    label_dir: str = "labels",
    image_suffix: str = ".png",
    label_suffix: str = TRAINID_SUFFIX,
    label_encoding: str = "trainids",
    num_images: int | None = None,
    seed: int = 0,
    strict: bool = True,
    size_mismatch: str = "error",
    unknown_ids: str = "error",
    domain: str = "generated",
    transform: Any = None,
) -> PairedFolderDataset:
    """An image-folder + label-folder training set; see the module docstring."""
    root = as_path(root)
    if label_encoding not in ("ids", "trainids"):
        raise ValueError(f"generated: label_encoding must be 'ids' or 'trainids', got {label_encoding!r}")
    if label_encoding == "ids" and label_suffix == TRAINID_SUFFIX:
        raise ValueError(f"generated: label_encoding 'ids' cannot use label_suffix {TRAINID_SUFFIX!r} "
                         "(that name holds the converted train-id cache)")
    if num_images is not None:
        num_images = int(num_images)
    if num_images == 0:
        return PairedFolderDataset([], [], ENCODINGS[label_encoding], domain, transform=transform)
    INFO.require(root, root)
    base = root / split if (root / split).is_dir() else root
    if base == root and split not in ("train", "all"):
        raise DatasetLayoutError(f"generated: split folder {root / split} not found (splits 'train'/'all' "
                                 f"read {root} directly).\nExpected layout under {root}:\n{INFO.layout}")
    images_path = INFO.require(base / image_dir, root)
    labels_path = INFO.require(base / label_dir, root)
    images = index_files(images_path, image_suffix)
    labels = index_labels(labels_path, label_suffix, ENCODINGS[label_encoding])
    imgs, lbls, problems = pair_files(images, labels, name=INFO.name, strict=strict,
                                      label_hint=f"{label_dir}/<name>{label_suffix}")
    keep = subset_indices(len(imgs), num_images, seed) if imgs else []
    return finish(INFO, root, [imgs[i] for i in keep], [lbls[i] for i in keep], problems, domain,
                  where=str(images_path), transform=transform, size_mismatch=size_mismatch,  # type: ignore[arg-type]
                  unknown_ids=unknown_ids)  # type: ignore[arg-type]
