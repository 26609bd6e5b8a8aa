"""Your own classes and domains (``data=custom``, docs/custom_data.md).

Every folder holds ``images/<name>.png|.jpg|.jpeg`` and ``labels/<name>.png`` (single
channel, train ids 0..C−1 of the class file, 255 = ignore). ``source`` is the training
set; each folder of ``targets`` is an evaluation domain named after the folder.
Checked when the data is built: the folder layout, one label per image and one image per
label, label size = image size (file headers). Label values are checked when a label is
read: a value ≥ C other than 255 stops with an error naming the file.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flexseg.data.classes import load_classes
from flexseg.data.datamodule import SegDataModule, Transform
from flexseg.data.datasets.base import (
    DatasetLayoutError,
    LabelConverter,
    LabelError,
    LabelFile,
    PairedFolderDataset,
    image_size,
    index_files,
    pair_files,
)
from flexseg.data.labels import IGNORE_INDEX

__all__ = ["CustomDataModule", "build_folder", "train_id_converter"]

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")
LAYOUT = "<dir>/images/<name>.png|.jpg and <dir>/labels/<name>.png (train ids, 255 = ignore)"


def train_id_converter(num_classes: int) -> LabelConverter:
    """Labels already in train ids 0..num_classes−1 (+ 255); other values are errors."""
    return LabelConverter(f"train-id 0..{num_classes - 1} (+{IGNORE_INDEX}) of data.classes",
                          {i: i for i in range(num_classes)}, [*range(num_classes), IGNORE_INDEX])


def _images(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for suffix in IMAGE_SUFFIXES:
        for key, path in index_files(folder, suffix).items():
            if key in found:
                raise DatasetLayoutError(f"{folder}: two images named {key!r} ({found[key].name}, {path.name}); "
                                         "keep one image per label")
            found[key] = path
    return found


def build_folder(root: str | Path, num_classes: int, domain: str | None = None) -> PairedFolderDataset:
    """The (image, label) pairs of one folder; raises naming the files on a bad layout,
    unpaired files or a label whose size differs from its image."""
    root = Path(root).expanduser()
    for sub in ("images", "labels"):
        if not (root / sub).is_dir():
            raise DatasetLayoutError(f"{root / sub} does not exist: data=custom expects {LAYOUT}")
    images = _images(root / "images")
    labels = {k: LabelFile(p, train_id_converter(num_classes)) for k, p in index_files(root / "labels", ".png").items()}
    if not images:
        raise DatasetLayoutError(f"{root / 'images'} holds no {'/'.join(IMAGE_SUFFIXES)} image ({LAYOUT})")
    image_paths, label_files, _ = pair_files(images, labels, name=str(root), label_hint="labels/<name>.png")
    for image, label in zip(image_paths, label_files):
        if image_size(image) != image_size(label.path):
            w, h = image_size(label.path)
            iw, ih = image_size(image)
            raise LabelError(f"{label.path}: label size {w}x{h} differs from its image {image} ({iw}x{ih})")
    return PairedFolderDataset(image_paths, label_files, domain=domain or root.name)


def domain_names(targets: Sequence[str | Path]) -> list[str]:
    """Folder names of ``targets``; raises when two are the same."""
    names = [Path(t).expanduser().resolve().name for t in targets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"data.targets: domains are named after their folders and {', '.join(dupes)} "
                         f"occurs twice ({list(map(str, targets))}); rename a folder")
    return names


class CustomDataModule(SegDataModule):
    """:class:`SegDataModule` of a class file, a source folder and target folders.

    Args:
        classes: the class file (:func:`flexseg.data.classes.load_classes`).
        source: training folder.
        targets: evaluation folders, one domain each (named after the folder).
        train_transform: transform of the source images (crop/resize to one size).
        target_transform: transform of every target (None = native size).
        num_classes / class_names / class_colors: the config's copies of the class file
            (``${classes.*:...}``), checked against it.
        **kwargs: :class:`SegDataModule` arguments (batch sizes, workers, HAS, seed, …).
    """

    def __init__(
        self,
        classes: str | Path,
        source: str | Path,
        targets: Sequence[str | Path],
        train_transform: Transform | None = None,
        target_transform: Transform | None = None,
        num_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        class_colors: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> None:
        class_set = load_classes(classes)
        if num_classes is not None and num_classes != len(class_set):
            raise ValueError(f"data.num_classes={num_classes} but {classes} lists {len(class_set)} classes")
        if class_names is not None and tuple(class_names) != class_set.names:
            raise ValueError(f"data.class_names {list(class_names)} differ from those of {classes}")
        if isinstance(targets, (str, Path)) or not targets:
            raise ValueError(f"data.targets must be a non-empty list of folders ([DIR, …]), got {targets!r}")
        self.class_set = class_set
        c = len(class_set)
        names = domain_names(targets)
        target_sets: Mapping[str, Any] = {n: build_folder(t, c, n) for n, t in zip(names, targets)}
        super().__init__(
            train_sets={"source": build_folder(source, c, "source")},
            targets=target_sets,
            train_transforms={"source": train_transform},
            target_transforms={n: target_transform for n in names},
            classes=str(classes), source=str(source), **kwargs,
        )
