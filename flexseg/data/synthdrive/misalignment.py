"""The image↔mask misalignment of the ``generated`` domain (the premise of FLEX-Seg).

The ``generated`` image is rendered from a warped copy of the part map: a smooth random
displacement field of peak ``A = misalignment_px`` pixels, times a boundary weight
``exp(−max(d − A, 0)/σ)`` (``d``: chessboard distance to the nearest label boundary,
``σ = max(1, A/2)``, zero beyond ``A + 4σ``), so object edges move by up to about ``A``
pixels and interiors stay aligned. The returned label stays unwarped (docs/synthdrive.md).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["boundary_distance", "label_boundary", "misalignment_field", "smooth_field", "warp_nearest"]

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
    """Pixels with a 4-neighbour of a different label (both sides of every edge).

    Args:
        label: integer label map.

    Returns:
        Boolean boundary mask.

    Shape:
        - label: :math:`(H, W)`.
        - Output: :math:`(H, W)`.

    Example:
        >>> label = np.zeros((2, 6), np.int64); label[:, 3:] = 1
        >>> label_boundary(label).astype(int).tolist()
        [[0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0]]
    """
    b = np.zeros(label.shape, bool)
    dv = label[1:] != label[:-1]
    dh = label[:, 1:] != label[:, :-1]
    b[1:] |= dv
    b[:-1] |= dv
    b[:, 1:] |= dh
    b[:, :-1] |= dh
    return b


def boundary_distance(label: np.ndarray, max_dist: int) -> np.ndarray:
    """Chessboard distance (px) to the nearest ``label_boundary`` pixel, by repeated 3×3
    dilation; ``inf`` beyond ``max_dist``.

    Args:
        label: integer label map.
        max_dist: the largest distance computed, px.

    Returns:
        float32 distances: 0 on the boundary, 1 … ``max_dist``, or ``inf``.

    Shape:
        - label: :math:`(H, W)`.
        - Output: :math:`(H, W)`.

    Example:
        >>> label = np.zeros((1, 6), np.int64); label[:, 3:] = 1
        >>> boundary_distance(label, 1).tolist()
        [[inf, 1.0, 0.0, 0.0, 1.0, inf]]
    """
    cur = label_boundary(label)
    dist = np.where(cur, 0.0, np.inf).astype(np.float32)
    for k in range(1, max_dist + 1):
        cur = _dilate(cur)
        dist[cur & np.isinf(dist)] = k
    return dist


def smooth_field(rng: np.random.Generator, h: int, w: int, cell: float = 32.0) -> np.ndarray:
    """A smooth random vector field: standard-normal vectors on a grid of spacing ``cell``
    px, bilinearly interpolated, normalized to a maximum magnitude of 1.

    Args:
        rng: the generator (one draw of the whole grid).
        h: height, px.
        w: width, px.
        cell: grid spacing, px.

    Returns:
        float32 field (dy, dx).

    Shape:
        - Output: :math:`(2, h, w)`.

    Example:
        >>> field = smooth_field(np.random.default_rng(0), 16, 24, cell=8.0)
        >>> field.shape, field.dtype.name, round(float(np.sqrt((field ** 2).sum(0)).max()), 4)
        ((2, 16, 24), 'float32', 1.0)
    """
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
    """The displacement (dy, dx) in px of the ``generated`` warp: a smooth random field
    (``smooth_field``, grid spacing a quarter of the shorter image side, at least 8 px)
    of peak magnitude ``A = amplitude`` times the boundary weight exp(−max(d − A, 0)/σ)
    (σ = max(1, A/2)), zero beyond A + 4σ. Edges thus move by up to A pixels, interiors
    not at all. The field is drawn even for ``amplitude`` 0 (then all zeros), so the
    warp stream does not depend on the amplitude.

    Args:
        label: integer label map (the unwarped one).
        amplitude: peak displacement A, px (≥ 0).
        rng: the warp generator.

    Returns:
        float32 displacement.

    Shape:
        - label: :math:`(H, W)`.
        - Output: :math:`(2, H, W)`.

    Example:
        >>> label = np.zeros((32, 32), np.int64); label[:, 16:] = 1
        >>> disp = misalignment_field(label, 2.0, np.random.default_rng(0))
        >>> size = np.sqrt((disp ** 2).sum(0))
        >>> disp.shape, bool(size.max() <= 2.0), float(size[:, :4].max())  # zero 12+ px from the edge
        ((2, 32, 32), True, 0.0)
        >>> bool(misalignment_field(label, 0.0, np.random.default_rng(0)).any())
        False
    """
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
    """Nearest-neighbour backward warp: ``out[y, x] = arr[y + dy, x + dx]``, the source
    position rounded (half to even) and clamped to the image.

    Args:
        arr: the map to warp (part ids, depth, ...), any dtype; trailing axes are kept.
        disp: displacement (dy, dx), px.

    Returns:
        The warped map, same dtype.

    Shape:
        - arr: :math:`(H, W, *)`.
        - disp: :math:`(2, H, W)`.
        - Output: :math:`(H, W, *)`.

    Example:
        >>> arr = np.arange(12).reshape(3, 4)
        >>> disp = np.zeros((2, 3, 4)); disp[1] = 1.0  # read one column to the right
        >>> warp_nearest(arr, disp).tolist()
        [[1, 2, 3, 3], [5, 6, 7, 7], [9, 10, 11, 11]]
    """
    h, w = arr.shape[:2]
    ys = np.clip(np.rint(np.arange(h)[:, None] + disp[0]), 0, h - 1).astype(np.intp)
    xs = np.clip(np.rint(np.arange(w)[None, :] + disp[1]), 0, w - 1).astype(np.intp)
    return arr[ys, xs]
