"""The Cityscapes train ids (0–18) under the names the generator draws with.

``ROAD`` = 0 … ``BICYCLE`` = 18, in the order of ``flexseg.data.labels.CLASS_NAMES``.
``TRAIN`` is never drawn; ``WALL``, ``FENCE``, ``RIDER``, ``MOTORCYCLE`` and ``BICYCLE`` only
with the switches of ``scene`` (docs/synthdrive.md, Classes).
"""
from __future__ import annotations

from flexseg.data.labels import NUM_CLASSES

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY, PERSON,
 RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE) = range(NUM_CLASSES)
