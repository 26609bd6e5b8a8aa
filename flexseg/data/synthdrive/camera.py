"""Camera."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Camera:
    """Pinhole camera looking along +Z; X right, Y up (metres); image x right, y down."""

    f: float  # focal length, px
    height: float  # camera height above ground, m
    horizon: float  # image row of the horizon, px
    vx: float  # image column of the vanishing point, px

    def x(self, X: float | np.ndarray, Z: float | np.ndarray) -> float | np.ndarray:
        return self.vx + self.f * X / Z

    def y(self, Y: float | np.ndarray, Z: float | np.ndarray) -> float | np.ndarray:
        return self.horizon + self.f * (self.height - Y) / Z

    def px(self, size_m: float, Z: float) -> float:
        """Projected size (px) of ``size_m`` metres at depth ``Z``."""
        return self.f * size_m / Z


def sample_camera(rng: np.random.Generator, h: int, w: int) -> Camera:
    f = math.sqrt(h * w / 2.0) * rng.uniform(0.9, 1.15)
    return Camera(f=f, height=rng.uniform(1.4, 1.8), horizon=h * rng.uniform(0.36, 0.46),
                  vx=w * rng.uniform(0.42, 0.58))
