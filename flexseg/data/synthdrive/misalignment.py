"""Misalignment."""
from __future__ import annotations

import math

import numpy as np


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3×3 binary dilation."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    row = out.copy()
    out[:, 1:] |= row[:, :-1]
    out[:, :-1] |= row[:, 1:]
    return out


def label_boundary(label: np.ndarray) -> np.ndarray:
    """[H,W] bool: pixels with a 4-neighbour of a different label."""
    b = np.zeros(label.shape, bool)
    dv = label[1:] != label[:-1]
    dh = label[:, 1:] != label[:, :-1]
    b[1:] |= dv
    b[:-1] |= dv
    b[:, 1:] |= dh
    b[:, :-1] |= dh
    return b


def boundary_distance(label: np.ndarray, max_dist: int) -> np.ndarray:
    """[H,W] float32 chessboard distance to the nearest label boundary, inf beyond max_dist."""
    cur = label_boundary(label)
    dist = np.where(cur, 0.0, np.inf).astype(np.float32)
    for k in range(1, max_dist + 1):
        cur = _dilate(cur)
        dist[cur & np.isinf(dist)] = k
    return dist


def smooth_field(rng: np.random.Generator, h: int, w: int, cell: float = 32.0) -> np.ndarray:
    """[2,H,W] float32 random vector field, bilinear from a grid of spacing ``cell`` px,
    normalized to unit maximum magnitude."""
    gh, gw = int(math.ceil(h / cell)) + 2, int(math.ceil(w / cell)) + 2
    grid = rng.normal(size=(2, gh, gw)).astype(np.float32)
    ys = (np.arange(h) + 0.5) / cell + 0.5
    xs = (np.arange(w) + 0.5) / cell + 0.5
    y0, x0 = ys.astype(int), xs.astype(int)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    g = grid[:, y0][:, :, x0], grid[:, y0][:, :, x0 + 1], grid[:, y0 + 1][:, :, x0], grid[:, y0 + 1][:, :, x0 + 1]
    field_ = g[0] * (1 - wy) * (1 - wx) + g[1] * (1 - wy) * wx + g[2] * wy * (1 - wx) + g[3] * wy * wx
    peak = math.sqrt(float((field_ ** 2).sum(0).max())) + 1e-8
    return (field_ / peak).astype(np.float32)


def misalignment_field(label: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """[2,H,W] displacement (dy, dx) in px: a smooth random field (grid spacing a quarter
    of the shorter image side) of peak magnitude ``amplitude`` times the boundary weight
    exp(−max(d − A, 0)/σ) (σ = max(1, A/2)), zero beyond A + 4σ. Edges thus move by up
    to A pixels, interiors not at all."""
    h, w = label.shape
    field_ = smooth_field(rng, h, w, cell=max(8.0, min(h, w) / 4))
    if amplitude <= 0:
        return np.zeros_like(field_)
    sigma = max(1.0, amplitude / 2)
    reach = int(math.ceil(amplitude + 4 * sigma))
    d = boundary_distance(label, reach)
    weight = np.where(np.isinf(d), 0.0, np.exp(-np.maximum(d - amplitude, 0) / sigma)).astype(np.float32)
    return field_ * (amplitude * weight)[None]


def warp_nearest(arr: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """out[y,x] = arr[y + dy, x + dx] (rounded, clamped to the image)."""
    h, w = arr.shape[:2]
    ys = np.clip(np.rint(np.arange(h)[:, None] + disp[0]), 0, h - 1).astype(np.intp)
    xs = np.clip(np.rint(np.arange(w)[None, :] + disp[1]), 0, w - 1).astype(np.intp)
    return arr[ys, xs]
