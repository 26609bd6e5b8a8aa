"""BDD100K semantic segmentation: ``images/10k/<split>/*.jpg`` + ``labels/sem_seg/masks/<split>/*.png``.

The masks already hold the 19 train ids (255 ignore); they are validated, not converted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flexseg.data.datasets.base import (
    TRAIN_IDS,
    DatasetInfo,
    PairedFolderDataset,
    as_path,
    finish,
    index_files,
    index_labels,
    pair_files,
)

INFO = DatasetInfo(
    name="bdd100k",
    folder="bdd100k",
    default_split="val",
    layout=(
        "  images/10k/<split>/<name>.jpg\n"
        "  labels/sem_seg/masks/<split>/<name>.png   (train ids 0..18, 255 ignore)"
    ),
    obtain=(
        "download '10K Images' (bdd100k_images_10k.zip) and the semantic segmentation labels "
        "(bdd100k_sem_seg_labels_trainval.zip) from the BDD100K website and unpack both so "
        "that their bdd100k/ folder is <root>"
    ),
)


def build_bdd100k(
    root: Path | str,
    split: str = "val",
    *,
    strict: bool = True,
    size_mismatch: str = "error",
    unknown_ids: str = "error",
    domain: str = "bdd100k",
    transform: Any = None,
) -> PairedFolderDataset:
    """BDD100K 10k semantic segmentation of ``split`` (train or val)."""
    root = as_path(root)
    INFO.require(root, root)
    image_dir = INFO.require(root / "images" / "10k" / split, root)
    label_dir = INFO.require(root / "labels" / "sem_seg" / "masks" / split, root)
    images = index_files(image_dir, ".jpg")
    labels = index_labels(label_dir, ".png", TRAIN_IDS)
    imgs, lbls, problems = pair_files(images, labels, name=INFO.name, strict=strict,
                                      label_hint="labels/sem_seg/masks/<split>/<name>.png")
    return finish(INFO, root, imgs, lbls, problems, domain, where=str(image_dir), transform=transform,
                  size_mismatch=size_mismatch, unknown_ids=unknown_ids)  # type: ignore[arg-type]
