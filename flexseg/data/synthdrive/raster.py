"""Raster."""
from __future__ import annotations

import numpy as np

from flexseg.data.synthdrive.camera import Camera
from flexseg.data.synthdrive.canvas import Canvas


def fill_rect(cv: Canvas, x0: float, y0: float, x1: float, y1: float, pid: int, z: float,
              min_w: float = 0.0, min_h: float = 0.0) -> None:
    """Axis-aligned rectangle (px), widened/heightened about its centre to the minimum size."""
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
    """Convex polygon [n,2] (x,y px), either orientation, rasterized by column spans:
    each non-vertical edge bounds the rows of every column from above or below."""
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
    """Ellipse (px); ``wobble`` = (amplitudes, phases) of a radial sine perturbation."""
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
    """Thick line segment (capsule) of ``width`` px."""
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
    """Image quad of the vertical rectangle X = const, Y∈[Y0,Y1], Z∈[Z0,Z1]."""
    return np.array([
        (cam.x(X, Z0), cam.y(Y0, Z0)), (cam.x(X, Z0), cam.y(Y1, Z0)),
        (cam.x(X, Z1), cam.y(Y1, Z1)), (cam.x(X, Z1), cam.y(Y0, Z1)),
    ])


def flat_quad(cam: Camera, X0: float, X1: float, Y: float, Z0: float, Z1: float) -> np.ndarray:
    """Image quad of the horizontal rectangle Y = const, X∈[X0,X1], Z∈[Z0,Z1]."""
    return np.array([
        (cam.x(X0, Z0), cam.y(Y, Z0)), (cam.x(X1, Z0), cam.y(Y, Z0)),
        (cam.x(X1, Z1), cam.y(Y, Z1)), (cam.x(X0, Z1), cam.y(Y, Z1)),
    ])


def draw_box(cv: Canvas, cam: Camera, X0: float, X1: float, Y0: float, Y1: float, Z0: float, Z1: float,
             face: int, side: int, top: int) -> None:
    """Visible faces of an axis-aligned box: side (if off-axis), top (if below the
    camera), then the near face Z = Z0."""
    if X0 > 0:
        fill_polygon(cv, side_quad(cam, X0, Y0, Y1, Z0, Z1), side, Z0)
    elif X1 < 0:
        fill_polygon(cv, side_quad(cam, X1, Y0, Y1, Z0, Z1), side, Z0)
    if Y1 < cam.height:
        fill_polygon(cv, flat_quad(cam, X0, X1, Y1, Z0, Z1), top, Z0)
    fill_rect(cv, cam.x(X0, Z0), cam.y(Y1, Z0), cam.x(X1, Z0), cam.y(Y0, Z0), face, Z0)


def face_rect(cv: Canvas, cam: Camera, X0: float, X1: float, Y0: float, Y1: float, Z: float, pid: int,
              min_w: float = 0.0, min_h: float = 0.0) -> None:
    """Rectangle on the plane Z = const, in metres."""
    fill_rect(cv, cam.x(X0, Z), cam.y(Y1, Z), cam.x(X1, Z), cam.y(Y0, Z), pid, Z, min_w, min_h)

