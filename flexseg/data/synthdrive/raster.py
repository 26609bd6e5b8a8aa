"""Pixel primitives that paint parts into a ``Canvas``, and the projected faces of boxes.

A pixel belongs to a shape when its centre ``(j + 0.5, i + 0.5)`` lies inside. Every
primitive paints one part id and one depth (metres) over what is there (painter's order:
callers paint far to near). Primitives are vectorized over the shape's bounding window.
"""
from __future__ import annotations

import numpy as np

from flexseg.data.synthdrive.camera import Camera
from flexseg.data.synthdrive.canvas import Canvas

__all__ = ["draw_box", "face_rect", "fill_ellipse", "fill_polygon", "fill_rect", "fill_segment", "flat_quad", "side_quad"]

def fill_rect(cv: Canvas, x0: float, y0: float, x1: float, y1: float, pid: int, z: float,
              min_w: float = 0.0, min_h: float = 0.0) -> None:
    """Axis-aligned rectangle [x0,x1)×[y0,y1) (px), widened/heightened about its centre
    to at least ``min_w``×``min_h``.

    Args:
        cv: the canvas to paint.
        x0, y0, x1, y1: corners, px.
        pid: part id.
        z: depth, metres.
        min_w, min_h: minimum size, px.

    Example:
        >>> cv, t = Canvas(8, 8), np.zeros(4, np.float32)
        >>> sky, pid = cv.new_part("sky", 10, t), cv.new_part("pole", 5, t)
        >>> fill_rect(cv, 3.9, 1.0, 4.1, 7.0, pid, 3.0, min_w=2.0)  # 0.2 px wide → 2 px
        >>> int((cv.part == pid).sum()), float(cv.depth[1, 3])
        (12, 3.0)
    """
    if x1 - x0 < min_w:
        cx = 0.5 * (x0 + x1)
        x0, x1 = cx - 0.5 * min_w, cx + 0.5 * min_w
    if y1 - y0 < min_h:
        cy = 0.5 * (y0 + y1)
        y0, y1 = cy - 0.5 * min_h, cy + 0.5 * min_h
    win = cv.window(x0, x1, y0, y1)
    if win is not None:
        cv.paint(win, None, pid, z)


def fill_polygon(cv: Canvas, pts: np.ndarray, pid: int, z: float) -> None:
    """Convex polygon, either orientation, rasterized by column spans: each non-vertical
    edge bounds the rows of every column from above or below. Pixel centres on an edge
    are inside; a degenerate polygon (area < 1e-6 px²) paints nothing.

    Args:
        cv: the canvas to paint.
        pts: vertices (x, y), px.
        pid: part id.
        z: depth, metres.

    Shape:
        - pts: :math:`(n, 2)`.

    Example:
        >>> cv, t = Canvas(8, 8), np.zeros(4, np.float32)
        >>> sky, pid = cv.new_part("sky", 10, t), cv.new_part("pole", 5, t)
        >>> fill_polygon(cv, np.array([(0, 0), (8, 0), (0, 8)]), pid, 3.0)
        >>> int((cv.part == pid).sum())  # 8 + 7 + ... + 1 pixel centres on or above the diagonal
        36
    """
    pts = np.asarray(pts, np.float32)
    win = cv.window(pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max())
    if win is None:
        return
    nxt = np.roll(pts, -1, axis=0)
    area = float(np.sum(pts[:, 0] * nxt[:, 1] - nxt[:, 0] * pts[:, 1]))
    if abs(area) < 1e-6:
        return
    sign = 1.0 if area > 0 else -1.0
    X = cv.xc[win[1]]
    lo = np.full(X.shape, -np.inf, np.float32)
    hi = np.full(X.shape, np.inf, np.float32)
    for (ax, ay), (bx, by) in zip(pts.tolist(), nxt.tolist()):
        dx, dy = bx - ax, by - ay
        if abs(dx) > 1e-6:
            line = ay + dy * (X - ax) / dx
            if sign * dx > 0:
                np.maximum(lo, line, out=lo)
            else:
                np.minimum(hi, line, out=hi)
        elif sign * dy != 0:
            hi[-sign * dy * (X - ax) < 0] = -np.inf
    Y = cv.yc[win[0]][:, None]
    cv.paint(win, (Y >= lo) & (Y <= hi), pid, z)


def fill_ellipse(cv: Canvas, cx: float, cy: float, rx: float, ry: float, pid: int, z: float,
                 wobble: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Ellipse of centre (cx, cy) and radii (rx, ry) (px, at least 0.5 each).

    With ``wobble = (a, p)``, the radius at angle θ is scaled by
    ``1 + Σ_k a[k]·sin((k + 2)·θ + p[k])`` (tree crowns).

    Args:
        cv: the canvas to paint.
        cx, cy: centre, px.
        rx, ry: radii, px.
        pid: part id.
        z: depth, metres.
        wobble: amplitudes and phases of the radial perturbation, or None.

    Example:
        >>> cv, t = Canvas(8, 8), np.zeros(4, np.float32)
        >>> sky, pid = cv.new_part("sky", 10, t), cv.new_part("pole", 5, t)
        >>> fill_ellipse(cv, 4.0, 4.0, 3.0, 2.0, pid, 3.0)
        >>> (cv.part == pid).sum(axis=1).tolist()
        [0, 0, 4, 6, 6, 4, 0, 0]
    """
    rx, ry = max(rx, 0.5), max(ry, 0.5)
    grow = 1.0 + (np.abs(wobble[0]).sum() if wobble is not None else 0.0)
    win = cv.window(cx - rx * grow, cx + rx * grow, cy - ry * grow, cy + ry * grow)
    if win is None:
        return
    dx = (cv.xc[win[1]][None, :] - cx) / rx
    if wobble is None:  # column spans
        half = ry * np.sqrt(np.clip(1.0 - dx * dx, 0.0, None))
        inside = np.abs(cv.yc[win[0]][:, None] - cy) <= half
        inside &= (np.abs(dx) <= 1.0)
    else:
        dy = (cv.yc[win[0]][:, None] - cy) / ry
        r2 = dx * dx + dy * dy
        theta = np.arctan2(dy, dx)
        radius = 1.0 + sum(a * np.sin((k + 2) * theta + p) for k, (a, p) in enumerate(zip(*wobble)))
        inside = r2 <= radius * radius
    cv.paint(win, inside, pid, z)


def fill_segment(cv: Canvas, x0: float, y0: float, x1: float, y1: float, width: float, pid: int, z: float) -> None:
    """Thick line segment from (x0, y0) to (x1, y1): every pixel within ``width``/2 px
    (at least 0.5) of the segment.

    Args:
        cv: the canvas to paint.
        x0, y0, x1, y1: end points, px.
        width: thickness, px.
        pid: part id.
        z: depth, metres.

    Example:
        >>> cv, t = Canvas(8, 8), np.zeros(4, np.float32)
        >>> sky, pid = cv.new_part("sky", 10, t), cv.new_part("pole", 5, t)
        >>> fill_segment(cv, 1.0, 1.0, 7.0, 7.0, 2.0, pid, 3.0)
        >>> (cv.part == pid).sum(axis=1).tolist()
        [2, 3, 3, 3, 3, 3, 3, 2]
    """
    r = 0.5 * max(width, 1.0)
    win = cv.window(min(x0, x1) - r, max(x0, x1) + r, min(y0, y1) - r, max(y0, y1) + r)
    if win is None:
        return
    X = cv.xc[win[1]][None, :] - x0
    Y = cv.yc[win[0]][:, None] - y0
    dx, dy = x1 - x0, y1 - y0
    t = np.clip((X * dx + Y * dy) / max(dx * dx + dy * dy, 1e-6), 0.0, 1.0)
    inside = (X - t * dx) ** 2 + (Y - t * dy) ** 2 <= r * r
    cv.paint(win, inside, pid, z)


def side_quad(cam: Camera, X: float, Y0: float, Y1: float, Z0: float, Z1: float) -> np.ndarray:
    """Image quad of the vertical rectangle X = const, Y∈[Y0,Y1], Z∈[Z0,Z1] (metres).

    Args:
        cam: the camera.
        X: lateral position of the plane, m.
        Y0, Y1: height range, m.
        Z0, Z1: depth range, m.

    Returns:
        Vertices (x, y) in px: (Y0,Z0), (Y1,Z0), (Y1,Z1), (Y0,Z1).

    Shape:
        - Output: :math:`(4, 2)`.

    Example:
        >>> cam = Camera(f=8.0, height=1.5, horizon=3.0, vx=4.0)
        >>> side_quad(cam, 1.0, 0.0, 1.0, 2.0, 4.0).tolist()
        [[8.0, 9.0], [8.0, 5.0], [6.0, 4.0], [6.0, 6.0]]
    """
    return np.array([
        (cam.x(X, Z0), cam.y(Y0, Z0)), (cam.x(X, Z0), cam.y(Y1, Z0)),
        (cam.x(X, Z1), cam.y(Y1, Z1)), (cam.x(X, Z1), cam.y(Y0, Z1)),
    ])


def flat_quad(cam: Camera, X0: float, X1: float, Y: float, Z0: float, Z1: float) -> np.ndarray:
    """Image quad of the horizontal rectangle Y = const, X∈[X0,X1], Z∈[Z0,Z1] (metres).

    Args:
        cam: the camera.
        X0, X1: lateral range, m.
        Y: height of the plane, m.
        Z0, Z1: depth range, m.

    Returns:
        Vertices (x, y) in px: (X0,Z0), (X1,Z0), (X1,Z1), (X0,Z1).

    Shape:
        - Output: :math:`(4, 2)`.

    Example:
        >>> cam = Camera(f=8.0, height=1.5, horizon=3.0, vx=4.0)
        >>> flat_quad(cam, -1.0, 1.0, 0.0, 2.0, 4.0).tolist()
        [[0.0, 9.0], [8.0, 9.0], [6.0, 6.0], [2.0, 6.0]]
    """
    return np.array([
        (cam.x(X0, Z0), cam.y(Y, Z0)), (cam.x(X1, Z0), cam.y(Y, Z0)),
        (cam.x(X1, Z1), cam.y(Y, Z1)), (cam.x(X0, Z1), cam.y(Y, Z1)),
    ])


def draw_box(cv: Canvas, cam: Camera, X0: float, X1: float, Y0: float, Y1: float, Z0: float, Z1: float,
             face: int, side: int, top: int) -> None:
    """Visible faces of the axis-aligned box [X0,X1]×[Y0,Y1]×[Z0,Z1] (metres): the side
    facing the camera (if the box is off-axis), the top (if below the camera height),
    then the near face Z = Z0; all at depth Z0.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X0, X1, Y0, Y1, Z0, Z1: the box, m.
        face, side, top: part ids of the near face, the side and the top.

    Example:
        >>> cam = Camera(f=16.0, height=1.5, horizon=6.0, vx=8.0)
        >>> cv = Canvas(16, 16); t = np.zeros(4, np.float32)
        >>> ids = [cv.new_part("car_body", 13, t, shade) for shade in (1.0, 1.0, 0.72, 1.12)][1:]
        >>> draw_box(cv, cam, 1.0, 3.0, 0.0, 1.0, 4.0, 8.0, *ids)
        >>> np.bincount(cv.part.ravel()).tolist()  # sky, near face, side, top
        [229, 16, 6, 5]
    """
    if X0 > 0:
        fill_polygon(cv, side_quad(cam, X0, Y0, Y1, Z0, Z1), side, Z0)
    elif X1 < 0:
        fill_polygon(cv, side_quad(cam, X1, Y0, Y1, Z0, Z1), side, Z0)
    if Y1 < cam.height:
        fill_polygon(cv, flat_quad(cam, X0, X1, Y1, Z0, Z1), top, Z0)
    fill_rect(cv, cam.x(X0, Z0), cam.y(Y1, Z0), cam.x(X1, Z0), cam.y(Y0, Z0), face, Z0)


def face_rect(cv: Canvas, cam: Camera, X0: float, X1: float, Y0: float, Y1: float, Z: float, pid: int,
              min_w: float = 0.0, min_h: float = 0.0) -> None:
    """Rectangle [X0,X1]×[Y0,Y1] on the plane Z = const (metres), at least
    ``min_w``×``min_h`` px (see ``fill_rect``).

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X0, X1, Y0, Y1: the rectangle, m.
        Z: its depth, m.
        pid: part id.
        min_w, min_h: minimum size, px.

    Example:
        >>> cam = Camera(f=8.0, height=1.5, horizon=3.0, vx=4.0)
        >>> cv, t = Canvas(8, 8), np.zeros(4, np.float32)
        >>> sky, pid = cv.new_part("sky", 10, t), cv.new_part("pole", 5, t)
        >>> face_rect(cv, cam, -0.5, 0.5, 0.0, 1.0, 2.0, pid)  # 1 m at 2 m: 4×4 px
        >>> (cv.part == pid).sum(axis=0).tolist()
        [0, 0, 3, 3, 3, 3, 0, 0]
    """
    fill_rect(cv, cam.x(X0, Z), cam.y(Y1, Z), cam.x(X1, Z), cam.y(Y0, Z), pid, Z, min_w, min_h)

