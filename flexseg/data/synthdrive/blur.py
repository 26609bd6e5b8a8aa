"""Blur."""
from __future__ import annotations

import numpy as np


def blur3(img: np.ndarray, passes: int = 1) -> np.ndarray:
    """Separable [1,2,1]/4 blur (edge-replicated), ``passes`` times; img [H,W,C] float."""
    for _ in range(passes):
        p = np.pad(img, ((1, 1), (0, 0), (0, 0)), mode="edge")
        img = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
        p = np.pad(img, ((0, 0), (1, 1), (0, 0)), mode="edge")
        img = 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]
    return img


def box_blur(img: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window (edge-replicated) via cumulative sums; img [H,W,C]."""
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
    """Approximate wide box blur of [H,W,C]: block-mean by ``factor``, box blur of radius
    r/factor, nearest upsampling."""
    h, w = img.shape[:2]
    ph, pw = (-h) % factor, (-w) % factor
    padded = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")
    small = padded.reshape((h + ph) // factor, factor, (w + pw) // factor, factor, -1).mean(axis=(1, 3))
    small = box_blur(small, max(1, r // factor))
    return np.repeat(np.repeat(small, factor, axis=0), factor, axis=1)[:h, :w]
