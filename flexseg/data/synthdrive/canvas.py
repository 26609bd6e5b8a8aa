"""Canvas."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from flexseg.data.synthdrive.palette import ROLES

SKY_DEPTH = 1000.0  # metres; depth given to sky pixels (fog, night)


@dataclass
class Canvas:
    """Part map under construction: ``part`` [H,W] int16 ids, ``depth`` [H,W] metres,
    and per-part role, class, tint (4 floats in [0,1)) and shade (brightness factor)."""

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
    return rng.random(4).astype(np.float32)
