"""Cityscapes: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` + ``gtFine/<split>/<city>/*_gtFine_labelIds.png``.

``*_gtFine_labelTrainIds.png`` (cityscapesScripts' createTrainIdLabelImgs, or prepare
--cache) is preferred when present and not older than its labelIds file.
"""
from __future__ import annotations

from flexseg.data.datasets.base import DatasetLayout

CITYSCAPES = DatasetLayout(
    name="cityscapes", folder="cityscapes", default_split="val",
    image_dir="leftImg8bit/{split}", image_suffix="_leftImg8bit.png",
    label_dir="gtFine/{split}", label_suffix="_gtFine_labelIds.png", label_encoding="ids",
    recursive=True, label_hint="gtFine/<split>/<city>/*_gtFine_labelIds.png",
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
