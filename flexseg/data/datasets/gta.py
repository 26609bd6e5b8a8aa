"""GTA5 ("Playing for Data"): ``<root>/images/*.png`` + ``<root>/labels/*.png``.

Labels are Cityscapes label ids (palette PNGs), converted to train ids; prepare caches
them as ``labels/<name>_labelTrainIds.png`` (the mmseg / DAFormer file name, so a tree
converted by DAFormer's ``tools/convert_datasets/gta.py`` is used as is).

A handful of GTA frames are published with a label whose size differs from the image;
GTA is a training set, so the default ``size_mismatch="resize"`` resizes such a label to
its image (nearest) with a warning instead of stopping a training run.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flexseg.data.datasets.base import DatasetLayout, DatasetLayoutError, LabelFile, Pairs


def frame_key(name: str) -> str:
    """File stem of a frame from an image or label file name or path
    (``labels/00001_labelTrainIds.png`` → ``00001``)."""
    stem = Path(name.strip()).name
    for suffix in (".png", ".jpg"):
        stem = stem.removesuffix(suffix)
    return stem.removesuffix("_labelTrainIds")


def read_split_entries(path: Path) -> list[tuple[str, int | None]]:
    """(key, class) per line of a split file: ``name`` or ``name,class`` ('#' comments).

    ``name`` may be an image or label file name or path (DGInStyle's
    ``rcs_images_6000.json`` lists ``.../labels/00001_labelTrainIds.png,12``); ``class`` is
    the train id the frame was drawn for (rare-class subset, docs/data_protocol.md).
    """
    entries: list[tuple[str, int | None]] = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, cls = line.partition(",")
        value: int | None = None
        if sep:
            try:
                value = int(cls.strip())
            except ValueError:
                raise DatasetLayoutError(f"{path}:{n}: class {cls.strip()!r} is not an integer train id") from None
            if not 0 <= value < 19:
                raise DatasetLayoutError(f"{path}:{n}: class {value} is not a train id in [0, 19)")
        entries.append((frame_key(name), value))
    return entries


def read_split_file(path: Path) -> list[str]:
    """Keys (file stems) listed in a split file (see :func:`read_split_entries`)."""
    return [key for key, _ in read_split_entries(path)]


@dataclass(frozen=True)
class GtaLayout(DatasetLayout):
    """Every frame for split ``all``/``train``, else the frames a split file lists
    (``split_file``, default ``<root>/<split>.txt``), in file-name order, a frame listed
    twice (two classes) twice, with the listed class as the sample's ``sampled_class``."""

    split_file: str | Path | None = None

    def pair(
        self, root: Path, split: str, images: Mapping[str, Path], labels: Mapping[str, LabelFile], *,
        strict: bool, label_hint: str,
    ) -> Pairs:
        split_file = self.split_file
        if split_file is None and split not in ("all", "train"):
            split_file = root / f"{split}.txt"
        if split_file is None:
            return super().pair(root, split, images, labels, strict=strict, label_hint=label_hint)
        split_file = Path(split_file)
        if not split_file.is_absolute() and not split_file.exists():
            split_file = root / split_file
        if not split_file.is_file():
            raise DatasetLayoutError(
                f"gta: split {split!r} needs the split file {split_file}, which does not exist. The DAFormer "
                f"setting's 6,000-frame rare-class subset is written by: python -m flexseg.data.prepare gta "
                f"--root {root} --subset 6000 (docs/data_protocol.md); split_file=null (data.train_sets.gta."
                "split_file=null) uses every frame."
            )
        entries = read_split_entries(split_file)
        missing = [k for k, _ in entries if k not in images]
        if missing:
            raise DatasetLayoutError(
                f"gta: {len(missing)} image(s) listed in {split_file} are not in {root / self.image_dir}: "
                + ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "")
            )
        wanted = {k for k, _ in entries}
        pairs = super().pair(root, split, {k: v for k, v in images.items() if k in wanted},
                             {k: v for k, v in labels.items() if k in wanted}, strict=strict, label_hint=label_hint)
        # sorted by name; a frame listed twice (two classes) stays twice
        position = {frame_key(p.name): i for i, p in enumerate(pairs.images)}
        keep = sorted(((position[k], c) for k, c in entries if k in position), key=lambda e: e[0])
        return Pairs([pairs.images[i] for i, _ in keep], [pairs.labels[i] for i, _ in keep], pairs.problems,
                     [c for _, c in keep])


GTA = GtaLayout(
    name="gta", folder="gta", default_split="all",
    label_encoding="ids",
    label_hint="labels/<name>.png", size_mismatch="resize",
    layout=(
        "  images/00001.png …           RGB frames\n"
        "  labels/00001.png …           Cityscapes label ids (same file names)\n"
        "  labels/00001_labelTrainIds.png  (optional, written by prepare --cache)\n"
        "  <split>.txt                  (optional: image names of a split, one per line, or name,class)\n"
        "  sample_class_stats.json      (class pixel statistics: prepare gta --stats)"
    ),
    obtain=(
        "download all image and label archives of the GTA5 dataset ('Playing for Data', "
        "Richter et al., ECCV 2016) from its project page and unpack every part into "
        "<root>/images and <root>/labels"
    ),
    options={"split_file": "text file of image names (default <root>/<split>.txt for splits other than all/train)"},
)
#: the builder by its former name (flexseg.generate)
build_gta = GTA.build
