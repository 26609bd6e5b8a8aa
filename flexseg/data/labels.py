"""The 19 Cityscapes train-id classes, their colours, and raw-id → train-id tables.

Every dataset in FlexSeg yields labels in these train ids, with 255 = ignore.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IGNORE_INDEX: int = 255
NUM_CLASSES: int = 19

CLASS_NAMES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle",
)

#: Cityscapes colour palette, one RGB triple per train id.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
    (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)

#: Cityscapes label id → train id (official table; every other id → 255).
CITYSCAPES_ID_TO_TRAINID: dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
    24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}


def lookup_table(mapping: dict[int, int], size: int = 256) -> np.ndarray:
    """A uint8 lookup table of ``size`` entries: ``mapping`` where given, else 255."""
    table = np.full(size, IGNORE_INDEX, dtype=np.uint8)
    for raw, train in mapping.items():
        table[raw] = train
    return table


def colorize(label: np.ndarray, colors: Sequence[Sequence[int]] = PALETTE) -> np.ndarray:
    """Map an [H,W] train-id array to an [H,W,3] uint8 RGB image with ``colors`` (one RGB
    triple per train id; default Cityscapes); 255 and ids without a colour → black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(colors)] = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    return palette[np.asarray(label, dtype=np.int64).clip(0, 255)]


#: Mapillary Vistas v1.2 class names, index = label id (0..65) in the v1.2 label PNGs.
MAPILLARY_V12_CLASS_NAMES: tuple[str, ...] = (
    "animal--bird", "animal--ground-animal", "construction--barrier--curb",
    "construction--barrier--fence", "construction--barrier--guard-rail",
    "construction--barrier--other-barrier", "construction--barrier--wall",
    "construction--flat--bike-lane", "construction--flat--crosswalk-plain",
    "construction--flat--curb-cut", "construction--flat--parking",
    "construction--flat--pedestrian-area", "construction--flat--rail-track",
    "construction--flat--road", "construction--flat--service-lane",
    "construction--flat--sidewalk", "construction--structure--bridge",
    "construction--structure--building", "construction--structure--tunnel",
    "human--person", "human--rider--bicyclist", "human--rider--motorcyclist",
    "human--rider--other-rider", "marking--crosswalk-zebra", "marking--general",
    "nature--mountain", "nature--sand", "nature--sky", "nature--snow", "nature--terrain",
    "nature--vegetation", "nature--water", "object--banner", "object--bench",
    "object--bike-rack", "object--billboard", "object--catch-basin", "object--cctv-camera",
    "object--fire-hydrant", "object--junction-box", "object--mailbox", "object--manhole",
    "object--phone-booth", "object--pothole", "object--street-light",
    "object--support--pole", "object--support--traffic-sign-frame",
    "object--support--utility-pole", "object--traffic-light",
    "object--traffic-sign--back", "object--traffic-sign--front", "object--trash-can",
    "object--vehicle--bicycle", "object--vehicle--boat", "object--vehicle--bus",
    "object--vehicle--car", "object--vehicle--caravan", "object--vehicle--motorcycle",
    "object--vehicle--on-rails", "object--vehicle--other-vehicle",
    "object--vehicle--trailer", "object--vehicle--truck", "object--vehicle--wheeled-slow",
    "void--car-mount", "void--ego-vehicle", "void--unlabeled",
)

#: Mapillary Vistas v1.2 label id → train id (docs/design.md §2; every other id → 255).
MAPILLARY_TO_TRAINID: dict[int, int] = {
    13: 0, 24: 0, 41: 0,      # road, marking--general (lane marking), manhole → road
    2: 1, 15: 1,              # curb, sidewalk → sidewalk
    17: 2,                    # building
    6: 3,                     # wall
    3: 4,                     # fence
    45: 5, 47: 5,             # pole, utility-pole → pole
    48: 6,                    # traffic light
    50: 7,                    # traffic-sign--front → traffic sign
    30: 8,                    # vegetation
    29: 9,                    # terrain
    27: 10,                   # sky
    19: 11,                   # person
    20: 12, 21: 12, 22: 12,   # bicyclist, motorcyclist, other-rider → rider
    55: 13,                   # car
    61: 14,                   # truck
    54: 15,                   # bus
    58: 16,                   # on-rails → train
    57: 17,                   # motorcycle
    52: 18,                   # bicycle
}

#: Mapillary Vistas v1.2 label id → train id as the Rein family converts it (w1oves/Rein
#: ``tools/convert_datasets/mapillary2cityscape.py --train_id``: a class maps by its readable
#: name, lower-cased without spaces and dashes — an exact Cityscapes name, else a name holding
#: "trafficsign" / "front" / "back" → traffic sign, "onrail" → train, "cyclist" / "rider" →
#: rider, "pole" / "streetlight" → pole, "curb" / "pedestrianarea" → sidewalk, "crosswalkplain"
#: / "parking" / "bikelane" / "servicelane" / "lanemarking" → road; every other id → 255).
#: It differs from :data:`MAPILLARY_TO_TRAINID` (DAFormer's table) in 11 ids: road also takes
#: bike lane 7, crosswalk-plain 8, parking 10, service lane 14 and crosswalk-zebra 23, but not
#: manhole 41; sidewalk also takes curb cut 9 and pedestrian area 11; pole also street light
#: 44; traffic sign also traffic-sign frame 46 and traffic-sign back 49. Used by the Rein
#: family's test protocol (``conf/data/real_targets_rein.yaml``, docs/vfm.md).
MAPILLARY_TO_TRAINID_REIN: dict[int, int] = {
    7: 0, 8: 0, 10: 0, 13: 0, 14: 0, 23: 0, 24: 0,   # bike lane, crosswalk-plain, parking, road, service lane, lane markings → road
    2: 1, 9: 1, 11: 1, 15: 1,                         # curb, curb cut, pedestrian area, sidewalk → sidewalk
    17: 2,                                            # building
    6: 3,                                             # wall
    3: 4,                                             # fence
    44: 5, 45: 5, 47: 5,                              # street light, pole, utility pole → pole
    48: 6,                                            # traffic light
    46: 7, 49: 7, 50: 7,                              # traffic-sign frame, back, front → traffic sign
    30: 8,                                            # vegetation
    29: 9,                                            # terrain
    27: 10,                                           # sky
    19: 11,                                           # person
    20: 12, 21: 12, 22: 12,                           # bicyclist, motorcyclist, other rider → rider
    55: 13,                                           # car
    61: 14,                                           # truck
    54: 15,                                           # bus
    58: 16,                                           # on rails → train
    57: 17,                                           # motorcycle
    52: 18,                                           # bicycle
}
