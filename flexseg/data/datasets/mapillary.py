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

``label_table="rein"`` maps with the Rein family's table instead
(:data:`flexseg.data.labels.MAPILLARY_TO_TRAINID_REIN`, their ``mapillary2cityscape.py``:
11 ids differ, e.g. crosswalks, parking, bike and service lanes → road, manhole → 255); it
reads the original labels (the cache holds DAFormer's table) — the Rein family's test
protocol, ``conf/data/real_targets_rein.yaml``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flexseg.data.datasets.base import (
    MAPILLARY_V12_IDS,
    MAPILLARY_V12_IDS_REIN,
    TRAINID_SUFFIX,
    DatasetInfo,
    LabelFile,
    PairedFolderDataset,
    as_path,
    finish,
    index_files,
    index_labels,
    layout_error,
    pair_files,
)

INFO = DatasetInfo(
    name="mapillary",
    folder="mapillary",
    default_split="validation",
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

SPLITS = {"val": "validation", "validation": "validation", "train": "training", "training": "training"}
#: label_table → converter: DAFormer's v1.2 table (docs/design.md §2) or the Rein family's
LABEL_TABLES = {"daformer": MAPILLARY_V12_IDS, "rein": MAPILLARY_V12_IDS_REIN}


def build_mapillary(
    root: Path | str,
    split: str = "validation",
    *,
    strict: bool = True,
    size_mismatch: str = "error",
    unknown_ids: str = "error",
    domain: str = "mapillary",
    transform: Any = None,
    label_table: str = "daformer",
) -> PairedFolderDataset:
    """Mapillary Vistas ``split`` with v1.2 labels mapped to the 19 train ids by
    ``label_table`` (``daformer``: DAFormer's table; ``rein``: the Rein family's)."""
    root = as_path(root)
    if split not in SPLITS:
        raise ValueError(f"mapillary: unknown split {split!r}; use one of {sorted(SPLITS)}")
    if label_table not in LABEL_TABLES:
        raise ValueError(f"mapillary: label_table must be one of {sorted(LABEL_TABLES)}, got {label_table!r}")
    INFO.require(root, root)
    base = INFO.require(root / SPLITS[split], root)
    image_dir = INFO.require(base / "images", root)
    label_dir = base / "v1.2" / "labels"
    if not label_dir.is_dir():
        if not (base / "labels").is_dir():
            raise layout_error(INFO.name, label_dir, INFO.layout, INFO.obtain, root)
        label_dir = base / "labels"
    images = index_files(image_dir, ".jpg")
    if label_table == "daformer":
        labels = index_labels(label_dir, ".png", MAPILLARY_V12_IDS)
    else:  # the original ids converted on the fly; train-id caches (DAFormer's table) are skipped
        raw = index_files(label_dir, ".png", exclude_suffix=TRAINID_SUFFIX)
        labels = {k: LabelFile(p, LABEL_TABLES[label_table]) for k, p in raw.items()}
    imgs, lbls, problems = pair_files(images, labels, name=INFO.name, strict=strict,
                                      label_hint=f"{label_dir.relative_to(root)}/<name>.png")
    return finish(INFO, root, imgs, lbls, problems, domain, where=str(image_dir), transform=transform,
                  size_mismatch=size_mismatch, unknown_ids=unknown_ids)  # type: ignore[arg-type]
