"""The pinhole camera that projects the street (metres) onto the image (pixels)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Camera", "sample_camera"]

@dataclass
class Camera:
    """Pinhole camera looking along +Z; X right, Y up (metres); image x right, y down.

    The camera stands at ``X = 0``, ``Y = height`` above the ground plane ``Y = 0``.

    Example:
        >>> cam = Camera(f=128.0, height=1.5, horizon=50.0, vx=128.0)
        >>> cam.x(2.0, 10.0), cam.y(0.0, 10.0), cam.px(1.0, 8.0)
        (153.6, 69.2, 16.0)
    """

    f: float  # focal length, px
    height: float  # camera height above ground, m
    horizon: float  # image row of the horizon, px
    vx: float  # image column of the vanishing point, px

    def x(self, X: float | np.ndarray, Z: float | np.ndarray) -> float | np.ndarray:
        """Image column (px) of lateral position ``X`` at depth ``Z`` (metres)."""
        return self.vx + self.f * X / Z

    def y(self, Y: float | np.ndarray, Z: float | np.ndarray) -> float | np.ndarray:
        """Image row (px) of height ``Y`` at depth ``Z`` (metres)."""
        return self.horizon + self.f * (self.height - Y) / Z

    def px(self, size_m: float, Z: float) -> float:
        """Projected size (px) of ``size_m`` metres at depth ``Z``."""
        return self.f * size_m / Z


def sample_camera(rng: np.random.Generator, h: int, w: int) -> Camera:
    """A random camera for an ``h``×``w`` image.

    Focal length ``sqrt(h·w/2)·U(0.9, 1.15)`` px, height U(1.4, 1.8) m, horizon at
    U(0.36, 0.46)·h, vanishing point at U(0.42, 0.58)·w (drawn in this order).

    Args:
        rng: the geometry generator.
        h: image height, px.
        w: image width, px.

    Returns:
        The camera.

    Example:
        >>> cam = sample_camera(np.random.default_rng(0), 128, 256)
        >>> round(cam.f, 2), round(cam.height, 3), round(cam.horizon, 2), round(cam.vx, 2)
        (135.58, 1.508, 46.6, 108.2)
    """
    f = math.sqrt(h * w / 2.0) * rng.uniform(0.9, 1.15)
    return Camera(f=f, height=rng.uniform(1.4, 1.8), horizon=h * rng.uniform(0.36, 0.46),
                  vx=w * rng.uniform(0.42, 0.58))
