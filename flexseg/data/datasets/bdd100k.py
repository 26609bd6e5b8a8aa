"""BDD100K semantic segmentation: ``images/10k/<split>/*.jpg`` + ``labels/sem_seg/masks/<split>/*.png``.

The masks already hold the 19 train ids (255 ignore); they are validated, not converted.
"""
from __future__ import annotations

from flexseg.data.datasets.base import DatasetLayout

BDD100K = DatasetLayout(
    name="bdd100k", folder="bdd100k", default_split="val",
    image_dir="images/10k/{split}", image_suffix=".jpg",
    label_dir="labels/sem_seg/masks/{split}", label_suffix=".png", label_encoding="trainids",
    label_hint="labels/sem_seg/masks/<split>/<name>.png",
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
