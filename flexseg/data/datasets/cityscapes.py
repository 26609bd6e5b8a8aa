"""Cityscapes: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` + ``gtFine/<split>/<city>/*_gtFine_labelIds.png``.

``*_gtFine_labelTrainIds.png`` (cityscapesScripts' createTrainIdLabelImgs, or prepare
--cache) is preferred when present and not older than its labelIds file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flexseg.data.datasets.base import (
    CITYSCAPES_IDS,
    DatasetInfo,
    PairedFolderDataset,
    as_path,
    finish,
    index_files,
    index_labels,
    pair_files,
)

INFO = DatasetInfo(
    name="cityscapes",
    folder="cityscapes",
    default_split="val",
    layout=(
        "  leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png\n"
        "  gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png\n"
        "  gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png  (optional, preferred)"
    ),
    obtain=(
        "download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip from the "
        "Cityscapes website (registration required) and unpack both into <root>"
    ),
)


def build_cityscapes(
    root: Path | str,
    split: str = "val",
    *,
    strict: bool = True,
    size_mismatch: str = "error",
    unknown_ids: str = "error",
    domain: str = "cityscapes",
    transform: Any = None,
) -> PairedFolderDataset:
    """Cityscapes fine annotations of ``split`` (train or val)."""
    root = as_path(root)
    INFO.require(root, root)
    image_dir = INFO.require(root / "leftImg8bit" / split, root)
    label_dir = INFO.require(root / "gtFine" / split, root)
    images = index_files(image_dir, "_leftImg8bit.png", recursive=True)
    labels = index_labels(label_dir, "_gtFine_labelIds.png", CITYSCAPES_IDS, recursive=True,
                          trainid_suffix="_gtFine_labelTrainIds.png")
    imgs, lbls, problems = pair_files(images, labels, name=INFO.name, strict=strict,
                                      label_hint="gtFine/<split>/<city>/*_gtFine_labelIds.png")
    return finish(INFO, root, imgs, lbls, problems, domain, where=str(image_dir), transform=transform,
                  size_mismatch=size_mismatch, unknown_ids=unknown_ids)  # type: ignore[arg-type]
