"""Dark Zurich: ``rgb_anon/<split>/night/<seq>/*_rgb_anon.png`` + ``gt/<split>/night/<seq>/*_gt_labelIds.png``.

Only ``val`` has public labels (50 night frames). ``*_gt_labelTrainIds.png`` (shipped,
or written by prepare --cache) is preferred when present and not older than labelIds.
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
    name="dark_zurich",
    folder="dark_zurich",
    default_split="val",
    layout=(
        "  rgb_anon/val/night/<seq>/<seq>_frame_<n>_rgb_anon.png\n"
        "  gt/val/night/<seq>/<seq>_frame_<n>_gt_labelIds.png\n"
        "  gt/val/night/<seq>/<seq>_frame_<n>_gt_labelTrainIds.png   (optional, preferred)"
    ),
    obtain=(
        "download Dark_Zurich_val_anon.zip from the Dark Zurich page of the ETH Zurich "
        "Computer Vision Lab and unpack it into <root>"
    ),
)


def build_dark_zurich(
    root: Path | str,
    split: str = "val",
    *,
    strict: bool = True,
    size_mismatch: str = "error",
    unknown_ids: str = "error",
    domain: str = "dark_zurich",
    transform: Any = None,
) -> PairedFolderDataset:
    """Dark Zurich night frames of ``split`` (val)."""
    root = as_path(root)
    INFO.require(root, root)
    image_dir = INFO.require(root / "rgb_anon" / split / "night", root)
    label_dir = INFO.require(root / "gt" / split / "night", root)
    images = index_files(image_dir, "_rgb_anon.png", recursive=True)
    labels = index_labels(label_dir, "_gt_labelIds.png", CITYSCAPES_IDS, recursive=True,
                          trainid_suffix="_gt_labelTrainIds.png")
    imgs, lbls, problems = pair_files(images, labels, name=INFO.name, strict=strict,
                                      label_hint="gt/<split>/night/<seq>/*_gt_labelIds.png")
    return finish(INFO, root, imgs, lbls, problems, domain, where=str(image_dir), transform=transform,
                  size_mismatch=size_mismatch, unknown_ids=unknown_ids)  # type: ignore[arg-type]
