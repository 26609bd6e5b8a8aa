"""Dark Zurich: ``rgb_anon/<split>/night/<seq>/*_rgb_anon.png`` + ``gt/<split>/night/<seq>/*_gt_labelIds.png``.

Only ``val`` has public labels (50 night frames). ``*_gt_labelTrainIds.png`` (shipped,
or written by prepare --cache) is preferred when present and not older than labelIds.
"""
from __future__ import annotations

from flexseg.data.datasets.base import DatasetLayout

DARK_ZURICH = DatasetLayout(
    name="dark_zurich", folder="dark_zurich", default_split="val",
    image_dir="rgb_anon/{split}/night", image_suffix="_rgb_anon.png",
    label_dir="gt/{split}/night", label_suffix="_gt_labelIds.png", label_encoding="ids",
    recursive=True, label_hint="gt/<split>/night/<seq>/*_gt_labelIds.png",
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
