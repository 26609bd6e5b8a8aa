"""Blurs of [H,W,C] images (edge-replicated): a small binomial blur, a box blur and a
cheap wide box blur. Used for camera softness (``shading.finish``), glows and flakes
(``weather``). Each takes a float image ``img`` of shape :math:`(H, W, C)` and returns the
blurred image of the same shape."""
from __future__ import annotations

import numpy as np

__all__ = ["blur3", "box_blur", "coarse_blur"]

def blur3(img: np.ndarray, passes: int = 1) -> np.ndarray:
    """Separable [1,2,1]/4 blur (edge-replicated), ``passes`` times (0: unchanged).

    Args:
        passes: number of passes.

    Example:
        >>> img = np.zeros((5, 5, 1), np.float32); img[2, 2] = 16
        >>> blur3(img)[1:4, 1:4, 0].tolist()
        [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    for _ in range(passes):
        p = np.pad(img, ((1, 1), (0, 0), (0, 0)), mode="edge")
        img = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
        p = np.pad(img, ((0, 0), (1, 1), (0, 0)), mode="edge")
        img = 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]
    return img


def box_blur(img: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window (edge-replicated), via cumulative sums along each axis.

    Args:
        r: window radius, px (≤ 0: ``img`` itself is returned).

    Example:
        >>> img = np.zeros((5, 5, 1), np.float32); img[2, 2] = 16
        >>> out = box_blur(img, 1)
        >>> round(float(out[1, 1, 0]), 4), float(out[0, 0, 0]), float(out.sum())  # 16/9 over 3×3
        (1.7778, 0.0, 16.0)
    """
    if r <= 0:
        return img
    for axis in (0, 1):
        pad = [(0, 0)] * img.ndim
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(img, pad, mode="edge"), axis=axis)
        n = img.shape[axis]
        hi = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        img = (hi - lo) / (2 * r + 1)
    return img


def coarse_blur(img: np.ndarray, r: int, factor: int = 4) -> np.ndarray:
    """Approximate wide box blur: block means over ``factor``×``factor`` blocks
    (edge-padded to a multiple of ``factor``), a box blur of radius ``max(1, r // factor)``,
    nearest upsampling.

    Args:
        r: approximate window radius, px.
        factor: block size, px.

    Returns:
        The blurred image (blocky at the scale of ``factor``).

    Example:
        >>> out = coarse_blur(np.ones((10, 6, 3)), 8)  # constant in, constant out
        >>> out.shape, float(out.min()), float(out.max())
        ((10, 6, 3), 1.0, 1.0)
    """
    h, w = img.shape[:2]
    ph, pw = (-h) % factor, (-w) % factor
    padded = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")
    small = padded.reshape((h + ph) // factor, factor, (w + pw) // factor, factor, -1).mean(axis=(1, 3))
    small = box_blur(small, max(1, r // factor))
    return np.repeat(np.repeat(small, factor, axis=0), factor, axis=1)[:h, :w]
