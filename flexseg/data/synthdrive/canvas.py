"""The part map under construction: which part covers each pixel, and how far away it is.

Geometry is painted far to near (``scene.build_scene``); every primitive is a *part* with
an appearance role (``palette``), a class (train id), a random tint and a shade. The label
is the class of each pixel's part (``Canvas.class_map``), the image is rendered from the
part ids (``shading``, ``weather``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from flexseg.data.synthdrive.palette import ROLES

__all__ = ["SKY_DEPTH", "Canvas", "random_tint"]

SKY_DEPTH = 1000.0  # metres; depth given to sky pixels (fog, night)


@dataclass
class Canvas:
    """Part map under construction: ``part`` [H,W] int16 ids, ``depth`` [H,W] metres,
    and per-part role, class, tint (4 floats in [0,1)) and shade (brightness factor).

    Starts all sky: part 0 at depth ``SKY_DEPTH`` (the first part added must be the sky).
    ``xc``, ``yc``: pixel-centre coordinates (px) of the columns and rows.

    Example:
        >>> cv = Canvas(4, 6)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> road = cv.new_part("road", 0, np.zeros(4, np.float32))
        >>> cv.paint(cv.window(1.0, 3.0, 0.0, 2.0), None, road, 5.0)
        >>> cv.class_map().tolist()
        [[10, 0, 0, 10, 10, 10], [10, 0, 0, 10, 10, 10], [10, 10, 10, 10, 10, 10], [10, 10, 10, 10, 10, 10]]
        >>> float(cv.depth[0, 1]), float(cv.depth[0, 0])
        (5.0, 1000.0)
    """

    h: int
    w: int
    part: np.ndarray = field(init=False)
    depth: np.ndarray = field(init=False)
    roles: list[int] = field(default_factory=list)
    classes: list[int] = field(default_factory=list)
    tints: list[np.ndarray] = field(default_factory=list)
    shades: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.part = np.zeros((self.h, self.w), np.int16)
        self.depth = np.full((self.h, self.w), SKY_DEPTH, np.float32)
        self.xc = np.arange(self.w, dtype=np.float32) + 0.5
        self.yc = np.arange(self.h, dtype=np.float32) + 0.5

    def new_part(self, role: str, cls: int, tint: np.ndarray, shade: float = 1.0) -> int:
        """Register a part of role name ``role`` and class ``cls``; returns its id."""
        self.roles.append(ROLES[role])
        self.classes.append(cls)
        self.tints.append(tint)
        self.shades.append(shade)
        return len(self.roles) - 1

    def window(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice] | None:
        """Pixel slices whose centres lie in [x0,x1)×[y0,y1); None if empty."""
        j0, j1 = max(math.ceil(x0 - 0.5), 0), min(math.ceil(x1 - 0.5), self.w)
        i0, i1 = max(math.ceil(y0 - 0.5), 0), min(math.ceil(y1 - 0.5), self.h)
        if j0 >= j1 or i0 >= i1:
            return None
        return slice(i0, i1), slice(j0, j1)

    def paint(self, win: tuple[slice, slice], mask: np.ndarray | None, pid: int, z: float) -> None:
        """Set ``part`` to ``pid`` and ``depth`` to ``z`` where ``mask`` (within ``win``)."""
        if mask is None:
            self.part[win] = pid
            self.depth[win] = z
        else:
            self.part[win][mask] = pid
            self.depth[win][mask] = z

    def class_map(self, part: np.ndarray | None = None) -> np.ndarray:
        """[H,W] int64 train ids of ``part`` (default: this canvas's part map)."""
        lut = np.asarray(self.classes, np.int64)
        return lut[self.part if part is None else part]


def random_tint(rng: np.random.Generator) -> np.ndarray:
    """A part's tint: 4 uniform floats in [0, 1) (palette pick, RGB jitter).

    Args:
        rng: the geometry generator.

    Returns:
        float32 tint.

    Shape:
        - Output: :math:`(4,)`.

    Example:
        >>> tint = random_tint(np.random.default_rng(0))
        >>> tint.dtype.name, [round(float(t), 3) for t in tint]
        ('float32', [0.637, 0.27, 0.041, 0.017])
    """
    return rng.random(4).astype(np.float32)
