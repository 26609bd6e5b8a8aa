"""Mapillary Vistas: ``<split>/images/*.jpg`` + ``<split>/v1.2/labels/*.png`` (v1.2 ids 0..65).

``<split>`` is ``validation`` (``val``) or ``training`` (``train``). The v1.2-only archive
puts the labels in ``<split>/labels``; that folder is used when ``v1.2/labels`` is absent.
Labels are palette PNGs whose pixel values are v1.2 class ids, mapped to the 19 train ids
by :data:`flexseg.data.labels.MAPILLARY_TO_TRAINID` (docs/design.md §2); every other id → 255:

====  ==========================================  ===============
 id   Mapillary v1.2 class                        train id
====  ==========================================  ===============
 13   construction--flat--road                     0 road
 24   marking--general (lane marking)              0 road
 41   object--manhole                              0 road
  2   construction--barrier--curb                  1 sidewalk
 15   construction--flat--sidewalk                 1 sidewalk
 17   construction--structure--building            2 building
  6   construction--barrier--wall                  3 wall
  3   construction--barrier--fence                 4 fence
 45   object--support--pole                        5 pole
 47   object--support--utility-pole                5 pole
 48   object--traffic-light                        6 traffic light
 50   object--traffic-sign--front                  7 traffic sign
 30   nature--vegetation                           8 vegetation
 29   nature--terrain                              9 terrain
 27   nature--sky                                 10 sky
 19   human--person                               11 person
 20   human--rider--bicyclist                     12 rider
 21   human--rider--motorcyclist                  12 rider
 22   human--rider--other-rider                   12 rider
 55   object--vehicle--car                        13 car
 61   object--vehicle--truck                      14 truck
 54   object--vehicle--bus                        15 bus
 58   object--vehicle--on-rails                   16 train
 57   object--vehicle--motorcycle                 17 motorcycle
 52   object--vehicle--bicycle                    18 bicycle
====  ==========================================  ===============

All other ids (0..65, e.g. 12 rail-track, 23 crosswalk-zebra, 44 street-light, 49
traffic-sign--back, 65 unlabeled) → 255. Values > 65 are an error (v2.0 labels?).
Converted labels are cached as ``<name>_labelTrainIds.png`` next to the originals.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flexseg.data.datasets.base import (
    MAPILLARY_V12_IDS,
    MAPILLARY_V12_IDS_REIN,
    TRAINID_SUFFIX,
    DatasetLayout,
    Folders,
    LabelConverter,
    LabelFile,
    index_files,
)

SPLITS = {"val": "validation", "validation": "validation", "train": "training", "training": "training"}
#: label_table → converter: DAFormer's v1.2 table (docs/design.md §2) or the Rein family's
LABEL_TABLES = {"daformer": MAPILLARY_V12_IDS, "rein": MAPILLARY_V12_IDS_REIN}


@dataclass(frozen=True)
class MapillaryLayout(DatasetLayout):
    """Split aliases (``val`` = ``validation``, :data:`SPLITS`) and two label folders: the
    full archive's ``label_dir``, else the v1.2-only archive's ``v12_label_dir``; an error
    names ``label_dir``. The split folder is checked before the image folder."""

    v12_label_dir: str = "{split}/labels"
    label_table: str = "daformer"

    @property
    def converter(self) -> LabelConverter:
        return LABEL_TABLES[self.label_table]

    def checked(self, split: str) -> MapillaryLayout:
        if split not in SPLITS:
            raise ValueError(f"mapillary: unknown split {split!r}; use one of {sorted(SPLITS)}")
        if self.label_table not in LABEL_TABLES:
            raise ValueError(f"mapillary: label_table must be one of {sorted(LABEL_TABLES)}, got {self.label_table!r}")
        return self

    def label_files(self, folder: Path) -> dict[str, LabelFile]:
        if self.label_table == "daformer":
            return super().label_files(folder)
        # the original ids converted on the fly; train-id caches (DAFormer's table) are skipped
        return {k: LabelFile(p, self.converter) for k, p in index_files(folder, ".png", exclude_suffix=TRAINID_SUFFIX).items()}

    def folders(self, root: Path, split: str) -> list[Folders]:
        folder = SPLITS[split]
        self.require(root / folder, root)
        labels = root / self.label_dir.format(split=folder)
        if not labels.is_dir() and (root / self.v12_label_dir.format(split=folder)).is_dir():
            labels = root / self.v12_label_dir.format(split=folder)
        return [Folders(root / self.image_dir.format(split=folder), labels)]


MAPILLARY = MapillaryLayout(
    name="mapillary", folder="mapillary", default_split="validation",
    image_dir="{split}/images", image_suffix=".jpg",
    label_dir="{split}/v1.2/labels", label_suffix=".png", label_encoding="mapillary",
    label_hint="{label_dir}/<name>.png",
    options={"label_table": "daformer (DAFormer's v1.2 table) or rein (the Rein family's)"},
    layout=(
        "  validation/images/<name>.jpg\n"
        "  validation/v1.2/labels/<name>.png   (v1.2 class ids 0..65)\n"
        "  (the v1.2-only archive has validation/labels instead of validation/v1.2/labels)"
    ),
    obtain=(
        "download the Mapillary Vistas archive (mapillary-vistas-dataset_public_v2.0.zip, "
        "or the v1.2 one) from the Mapillary website (registration required) and unpack it into <root>"
    ),
)
