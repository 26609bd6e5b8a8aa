"""The things in the street: trees, poles with signs, traffic lights or lamps, walls and
fences, pedestrians, two-wheelers and vehicles.

Objects are sized in metres and projected by the camera; thin and small ones are kept
at least ``MIN_*_PX`` pixels (at the reference focal length of 128 px, i.e. 128×256
images, scaled with the focal length) so that every class drawn stays learnable at small
resolution (docs/synthdrive.md). Each ``draw_*`` paints its parts into the canvas at the
object's depth; ``scene.build_scene`` calls them far to near.

The examples paint on a 64×128 canvas of sky with a camera 1.5 m high and a focal
length of 64 px (so the minimum sizes are halved).
"""
from __future__ import annotations

import numpy as np

from flexseg.data.synthdrive.camera import Camera
from flexseg.data.synthdrive.canvas import Canvas, random_tint
from flexseg.data.synthdrive.classes import BICYCLE, BUS, CAR, FENCE, LIGHT, MOTORCYCLE, POLE, RIDER, SIGN, TRUCK, VEGETATION, WALL
from flexseg.data.synthdrive.raster import draw_box, face_rect, fill_ellipse, fill_polygon, fill_rect, fill_segment, flat_quad, side_quad
from flexseg.data.synthdrive.street import Street

__all__ = [
    "MIN_LIGHT_PX", "MIN_PERSON_PX", "MIN_POLE_PX", "MIN_SIGN_PX", "draw_overhead_light", "draw_person", "draw_pole",
    "draw_sign", "draw_traffic_light", "draw_tree", "draw_two_wheeler", "draw_vehicle", "draw_wall_or_fence",
]

# Minimum on-image sizes (px at the reference focal length of 128 px, i.e. 128×256
# images; scaled with the focal length), chosen so thin/small classes stay learnable.
MIN_POLE_PX = 6.0  # pole width
MIN_SIGN_PX = 12.0  # traffic-sign size
MIN_LIGHT_PX = 10.0  # traffic-light box width (height 2.6×)
MIN_PERSON_PX = 28.0  # pedestrian height


def draw_tree(cv: Canvas, cam: Camera, X: float, Z: float, rng: np.random.Generator) -> None:
    """A tree at ground position (X, Z): a trunk (≥ 2 px wide) and a wobbly elliptic crown.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X, Z: ground position, m.
        rng: the geometry generator.

    Example:
        >>> cam, cv = Camera(f=64.0, height=1.5, horizon=24.0, vx=64.0), Canvas(64, 128)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> draw_tree(cv, cam, 2.0, 8.0, np.random.default_rng(0))
        >>> np.unique(cv.class_map()).tolist()  # vegetation, sky
        [8, 10]
    """
    t = random_tint(rng)
    trunk = cv.new_part("trunk", VEGETATION, t)
    crown = cv.new_part("vegetation", VEGETATION, t)
    trunk_h, r = rng.uniform(2.0, 3.5), rng.uniform(1.5, 3.0)
    face_rect(cv, cam, X - 0.15, X + 0.15, 0.0, trunk_h + 0.5 * r, Z, trunk, min_w=2.0)
    wobble = (rng.uniform(0.0, 0.08, size=4), rng.uniform(0, 2 * np.pi, size=4))
    fill_ellipse(cv, cam.x(X, Z), cam.y(trunk_h + r, Z), cam.px(r, Z), cam.px(r * rng.uniform(0.8, 1.2), Z),
                 crown, Z, wobble)


def draw_sign(cv: Canvas, cam: Camera, X: float, Y: float, Z: float, rng: np.random.Generator) -> None:
    """A traffic sign (circle, triangle, square or diamond) centred at (X, Y, Z) (metres),
    0.8–1.1 m and at least ``MIN_SIGN_PX`` wide: a face and an inner symbol, or (p 0.15)
    the grey back.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X, Y, Z: centre, m.
        rng: the geometry generator.

    Example:
        >>> cam, cv = Camera(f=64.0, height=1.5, horizon=24.0, vx=64.0), Canvas(64, 128)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> draw_sign(cv, cam, 0.0, 1.5, 8.0, np.random.default_rng(0))
        >>> np.unique(cv.class_map()).tolist(), int((cv.class_map() == 7).sum())  # traffic sign
        ([7, 10], 48)
    """
    t = random_tint(rng)
    size = max(cam.px(rng.uniform(0.8, 1.1), Z), MIN_SIGN_PX * cam.f / 128)
    cx, cy = cam.x(X, Z), cam.y(Y, Z)
    back = rng.random() < 0.15
    face = cv.new_part("sign_back" if back else "sign_face", SIGN, t)
    inner = cv.new_part("sign_back" if back else "sign_inner", SIGN, t, 0.9 if back else 1.0)
    shape = int(rng.integers(0, 4))
    for pid, s in ((face, size), (inner, size * 0.62)):
        r = 0.5 * s
        if shape == 0:
            fill_ellipse(cv, cx, cy, r, r, pid, Z)
        elif shape == 1:
            up = 1 if rng.random() < 0.5 else -1
            fill_polygon(cv, np.array([(cx - r * 1.1, cy + up * r * 0.8), (cx + r * 1.1, cy + up * r * 0.8),
                                       (cx, cy - up * r * 1.1)]), pid, Z)
        elif shape == 2:
            fill_rect(cv, cx - r, cy - r * 0.8, cx + r, cy + r * 0.8, pid, Z)
        else:
            fill_polygon(cv, np.array([(cx - r * 1.2, cy), (cx, cy - r * 1.2), (cx + r * 1.2, cy), (cx, cy + r * 1.2)]),
                         pid, Z)


def draw_traffic_light(cv: Canvas, cam: Camera, X: float, Y: float, Z: float, rng: np.random.Generator) -> None:
    """A traffic-light box with its top at (X, Y, Z) (metres), 0.45 m and at least
    ``MIN_LIGHT_PX`` wide, 2.6× as high; three lamps (one lit) when it is ≥ 4.5 px wide.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X, Y, Z: top centre, m.
        rng: the geometry generator.

    Example:
        >>> cam, cv = Camera(f=64.0, height=1.5, horizon=24.0, vx=64.0), Canvas(64, 128)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> draw_traffic_light(cv, cam, 0.0, 3.0, 8.0, np.random.default_rng(0))
        >>> light = cv.class_map() == 6
        >>> int(light.any(axis=0).sum()), int(light.any(axis=1).sum())  # MIN_LIGHT_PX / 2 wide, 2.6× high
        (5, 13)
    """
    t = random_tint(rng)
    box = cv.new_part("light_box", LIGHT, t)
    w = max(cam.px(0.45, Z), MIN_LIGHT_PX * cam.f / 128)
    h = w * 2.6
    cx, top = cam.x(X, Z), cam.y(Y, Z)
    fill_rect(cv, cx - w / 2, top, cx + w / 2, top + h, box, Z)
    if w < 4.5:
        return
    lit = int(rng.integers(0, 3))
    for k, name in enumerate(("lamp_red", "lamp_yellow", "lamp_green")):
        pid = cv.new_part(name if k == lit else "lamp_off", LIGHT, t)
        fill_ellipse(cv, cx, top + h * (k + 0.5) / 3, w * 0.3, w * 0.3, pid, Z)


def draw_pole(cv: Canvas, cam: Camera, X: float, Z: float, toward_road: float, rng: np.random.Generator) -> None:
    """A pole at (X, Z) (metres), at least ``MIN_POLE_PX`` wide, carrying one or two
    signs (p 0.5), a traffic light (p 0.25), a street lamp on an arm toward the road
    (p 0.15) or nothing.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X, Z: ground position, m.
        toward_road: +1 or −1, the direction of the lamp arm along X.
        rng: the geometry generator.

    Example:
        >>> cam, cv = Camera(f=64.0, height=1.5, horizon=24.0, vx=64.0), Canvas(64, 128)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> draw_pole(cv, cam, 2.0, 8.0, -1.0, np.random.default_rng(1))
        >>> np.unique(cv.class_map()).tolist()  # pole, traffic sign, sky
        [5, 7, 10]
        >>> int((cv.class_map() == 5).any(axis=0).sum())  # MIN_POLE_PX / 2 columns
        3
    """
    t = random_tint(rng)
    pole = cv.new_part("pole", POLE, t)
    height = rng.uniform(3.5, 8.0)
    kind = rng.choice(["plain", "sign", "light", "lamp"], p=[0.1, 0.5, 0.25, 0.15])
    if kind == "sign":
        height = min(height, rng.uniform(2.6, 3.6))
    face_rect(cv, cam, X - 0.15, X + 0.15, 0.0, height, Z, pole, min_w=MIN_POLE_PX * cam.f / 128)
    if kind == "sign":
        draw_sign(cv, cam, X, height - 0.35, Z, rng)
        if rng.random() < 0.3:
            draw_sign(cv, cam, X, height - 1.15, Z, rng)
    elif kind == "light":
        draw_traffic_light(cv, cam, X, min(height, 4.0), Z, rng)
    elif kind == "lamp":
        arm = rng.uniform(1.0, 2.5) * toward_road
        x0, x1 = sorted((cam.x(X, Z), cam.x(X + arm, Z)))
        fill_rect(cv, x0, cam.y(height, Z), x1, cam.y(height - 0.15, Z), pole, Z, min_h=2.0)
        lamp = cv.new_part("streetlamp", POLE, t)
        face_rect(cv, cam, X + arm - 0.3 * toward_road - 0.25, X + arm - 0.3 * toward_road + 0.25,
                  height - 0.35, height - 0.15, Z, lamp, min_w=3.0, min_h=2.0)


def draw_overhead_light(cv: Canvas, cam: Camera, st: Street, Z: float, rng: np.random.Generator) -> None:
    """A mast arm across 40–75 % of the road at depth Z from a pole at either road
    edge, holding 1–3 traffic lights.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        st: the street layout.
        Z: depth, m.
        rng: the geometry generator.

    Example:
        >>> from flexseg.data.synthdrive.street import sample_street
        >>> cam, cv = Camera(f=64.0, height=1.5, horizon=24.0, vx=64.0), Canvas(64, 128)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> draw_overhead_light(cv, cam, sample_street(np.random.default_rng(0)), 10.0, np.random.default_rng(0))
        >>> np.unique(cv.class_map()).tolist()  # pole, traffic light, sky
        [5, 6, 10]
    """
    left = rng.random() < 0.5
    X = st.road_l - 0.5 if left else st.road_r + 0.5
    pole = cv.new_part("pole", POLE, random_tint(rng))
    h = rng.uniform(5.5, 6.5)
    face_rect(cv, cam, X - 0.15, X + 0.15, 0.0, h + 0.2, Z, pole, min_w=MIN_POLE_PX * cam.f / 128)
    reach = rng.uniform(0.4, 0.75) * (st.road_r - st.road_l)
    end = X + reach if left else X - reach
    face_rect(cv, cam, min(X, end), max(X, end), h - 0.15, h + 0.1, Z, pole, min_h=2.0)
    for k in range(int(rng.integers(1, 4))):
        lx = X + (0.35 + 0.3 * k) * (end - X)
        draw_traffic_light(cv, cam, lx, h - 0.1, Z, rng)


def draw_wall_or_fence(cv: Canvas, cam: Camera, X: float, Z0: float, Z1: float, kind: str,
                       rng: np.random.Generator) -> None:
    """A wall (1–2.5 m high) or a fence (1–2 m: bars and a top rail over darker gaps)
    on the plane X = const, Z ∈ [max(Z0, 1), Z1] (metres).

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X: lateral position of the plane, m.
        Z0, Z1: depth range, m.
        kind: ``"wall"`` or ``"fence"``.
        rng: the geometry generator.

    Example:
        >>> cam, cv = Camera(f=64.0, height=1.5, horizon=24.0, vx=64.0), Canvas(64, 128)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> draw_wall_or_fence(cv, cam, -4.0, 3.0, 20.0, "fence", np.random.default_rng(0))
        >>> np.unique(cv.class_map()).tolist(), np.bincount(cv.part.ravel()).tolist()  # sky, bars, gaps
        ([4, 10], [7302, 400, 490])
    """
    t = random_tint(rng)
    height = rng.uniform(1.0, 2.5) if kind == "wall" else rng.uniform(1.0, 2.0)
    cls = WALL if kind == "wall" else FENCE
    body = cv.new_part(kind, cls, t)
    quad = side_quad(cam, X, 0.0, height, max(Z0, 1.0), Z1)
    if kind == "wall":
        fill_polygon(cv, quad, body, Z0)
        return
    gap = cv.new_part("fence_gap", FENCE, t)
    fill_polygon(cv, quad, gap, Z0)
    # bars: columns with periodic pattern in the along-plane coordinate, top rail
    win = cv.window(quad[:, 0].min(), quad[:, 0].max(), quad[:, 1].min(), quad[:, 1].max())
    if win is None:
        return
    sub = cv.part[win]
    Zc = cam.f * X / (cv.xc[win[1]] - cam.vx + 1e-3)
    period = max(rng.uniform(0.15, 0.4), 1e-3)
    rows_top = cam.y(height, Zc)[None, :]
    Y = cv.yc[win[0]][:, None]
    bars = (np.mod(Zc / period, 1.0) < 0.45)[None, :] | (Y < rows_top + np.maximum(cam.f * 0.12 / Zc, 1.5)[None, :])
    sub[(sub == gap) & bars] = body


def draw_person(cv: Canvas, cam: Camera, X: float, Z: float, cls: int, rng: np.random.Generator,
                seated: bool = False, base_y: float = 0.0) -> None:
    """A pedestrian 1.6–1.9 m tall standing at (X, Z): legs, torso, arms, head and hair;
    with ``seated``, a rider's upper body from the hips at height ``base_y``. Limbs are
    at least 1.5 px wide at the reference focal length.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X, Z: ground position, m.
        cls: class of every part (``PERSON`` or ``RIDER``).
        rng: the geometry generator.
        seated: draw only the upper body (riders).
        base_y: height of the hips when ``seated``, m.

    Example:
        >>> cam, cv = Camera(f=64.0, height=1.5, horizon=24.0, vx=64.0), Canvas(64, 128)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> draw_person(cv, cam, 0.5, 6.0, 11, np.random.default_rng(0))
        >>> rows = np.nonzero((cv.class_map() == 11).any(axis=1))[0]
        >>> int(rows[0]), int(rows[-1])  # head to feet, standing on the ground row y(0, 6 m) = 40
        (21, 40)
    """
    t = random_tint(rng)
    skin = cv.new_part("skin", cls, t)
    hair = cv.new_part("hair", cls, t)
    top = cv.new_part("cloth_top", cls, t)
    bottom = cv.new_part("cloth_bottom", cls, t)
    tall = rng.uniform(1.6, 1.9)
    s = cam.f / Z  # px per metre
    x0, y0 = cam.x(X, Z), cam.y(base_y, Z)
    hip = 0.0 if seated else 0.52 * tall
    shoulder = hip + 0.3 * tall
    lean = rng.uniform(0.15, 0.3) * (1 if rng.random() < 0.5 else -1) if seated else 0.0
    minw = 1.5 * cam.f / 128
    if not seated:
        stride = rng.uniform(-0.25, 0.25)
        for side in (-1, 1):
            fill_segment(cv, x0 + side * 0.08 * s, y0 - hip * s, x0 + (side * 0.1 + side * stride) * s, y0,
                         max(0.15 * s, minw), bottom, Z)
    sx = x0 + lean * s
    fill_polygon(cv, np.array([(x0 - 0.17 * s, y0 - hip * s), (x0 + 0.17 * s, y0 - hip * s),
                               (sx + 0.21 * s, y0 - shoulder * s), (sx - 0.21 * s, y0 - shoulder * s)]), top, Z)
    swing = rng.uniform(-0.2, 0.2)
    for side in (-1, 1):
        fill_segment(cv, sx + side * 0.2 * s, y0 - (shoulder - 0.05) * s, sx + (side * 0.24 + side * swing) * s,
                     y0 - (hip - 0.05) * s, max(0.09 * s, minw), top, Z)
    head_r = 0.11 * tall / 1.75
    hy = y0 - (shoulder + 0.04 + head_r) * s
    fill_ellipse(cv, sx, hy, max(head_r * s, minw), max(head_r * 1.2 * s, minw), skin, Z)
    fill_ellipse(cv, sx, hy - 0.35 * head_r * s, max(head_r * s, minw), max(head_r * 0.7 * s, minw * 0.7), hair, Z)


def draw_two_wheeler(cv: Canvas, cam: Camera, X: float, Z: float, motor: bool, ridden: bool,
                     rng: np.random.Generator) -> None:
    """A side-view bicycle or motorcycle standing at (X, Z), facing left or right,
    optionally with a rider (class ``RIDER``) on it.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X, Z: ground position, m.
        motor: a motorcycle (``MOTORCYCLE``) instead of a bicycle (``BICYCLE``).
        ridden: draw a rider.
        rng: the geometry generator.

    Example:
        >>> cam, cv = Camera(f=64.0, height=1.5, horizon=24.0, vx=64.0), Canvas(64, 128)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> draw_two_wheeler(cv, cam, 0.5, 6.0, False, True, np.random.default_rng(0))
        >>> np.unique(cv.class_map()).tolist()  # sky, rider, bicycle
        [10, 12, 18]
    """
    cls = MOTORCYCLE if motor else BICYCLE
    t = random_tint(rng)
    frame = cv.new_part("moto_body" if motor else "bike_frame", cls, t)
    tire = cv.new_part("wheel" if motor else "bike_tire", cls, t)
    spokes = cv.new_part("bike_spokes", cls, t)
    s = cam.f / Z
    r = (0.33 if motor else 0.35) * s
    half = (0.7 if motor else 0.55) * s
    x0, yb = cam.x(X, Z), cam.y(0.0, Z)
    face = 1 if rng.random() < 0.5 else -1
    hubs = [(x0 - half, yb - r), (x0 + half, yb - r)]
    ring = max(0.07 * s if not motor else 0.12 * s, 1.2)
    for hx, hy in hubs:
        fill_ellipse(cv, hx, hy, r, r, tire, Z)
        fill_ellipse(cv, hx, hy, max(r - ring, 0.5), max(r - ring, 0.5), spokes, Z)
    seat = (x0 - face * 0.15 * s, yb - (0.95 if not motor else 0.85) * s)
    bar = (x0 + face * 0.45 * s, yb - 1.05 * s)
    width = max(0.06 * s, 1.5 * cam.f / 128)
    if motor:
        fill_ellipse(cv, x0, yb - 0.6 * s, 0.65 * s, 0.25 * s, frame, Z)
        fill_segment(cv, hubs[1 if face > 0 else 0][0], hubs[0][1], bar[0], bar[1], width, frame, Z)
    else:
        back = hubs[0] if face > 0 else hubs[1]
        front = hubs[1] if face > 0 else hubs[0]
        crank = (x0, yb - r)
        for a, b in ((back, crank), (crank, seat), (seat, back), (seat, bar), (bar, front), (crank, bar)):
            fill_segment(cv, a[0], a[1], b[0], b[1], width, frame, Z)
    if ridden:
        rider_t = random_tint(rng)
        legs = cv.new_part("cloth_bottom", RIDER, rider_t)
        hipY = (yb - seat[1]) / s + 0.05
        fill_segment(cv, seat[0], seat[1] - 0.05 * s, x0 + face * 0.1 * s, yb - 0.3 * s, max(0.15 * s, 1.5), legs, Z)
        draw_person(cv, cam, X - face * 0.15, Z, RIDER, rng, seated=True, base_y=hipY)


def draw_vehicle(cv: Canvas, cam: Camera, kind: str, X: float, Z: float, oncoming: bool, rng: np.random.Generator,
                 shadow_pid: int) -> None:
    """A car, truck or bus centred at X with its near face at depth Z (metres), as 3-D
    boxes with windows, wheels, lights and plate (cars), cab and cargo box (trucks) or a
    window band (buses), with a ground shadow; seen from the front when ``oncoming``,
    else from the back.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        kind: ``"car"``, ``"truck"`` or ``"bus"``.
        X, Z: centre line and near depth, m.
        oncoming: show the front (head lights) instead of the back (tail lights).
        rng: the geometry generator.
        shadow_pid: part id of the shadow on the road (class ``ROAD``).

    Example:
        >>> cam, cv = Camera(f=64.0, height=1.5, horizon=24.0, vx=64.0), Canvas(64, 128)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> shadow = cv.new_part("shadow", 0, np.zeros(4, np.float32))
        >>> draw_vehicle(cv, cam, "bus", 2.0, 8.0, True, np.random.default_rng(0), shadow)
        >>> np.unique(cv.class_map()).tolist()  # road (shadow), sky, bus
        [0, 10, 15]
    """
    t = random_tint(rng)
    if kind == "car":
        w, h, L = rng.uniform(1.7, 1.95), rng.uniform(1.4, 1.6), rng.uniform(4.0, 4.8)
        cls, body_role = CAR, "car_body"
    elif kind == "truck":
        w, h, L = 2.5, rng.uniform(3.2, 3.9), rng.uniform(7.0, 10.0)
        cls, body_role = TRUCK, "cargo"
    else:
        w, h, L = 2.55, rng.uniform(3.0, 3.3), rng.uniform(10.5, 13.0)
        cls, body_role = BUS, "bus_body"
    X0, X1 = X - w / 2, X + w / 2
    fill_polygon(cv, flat_quad(cam, X0 - 0.05, X1 + 0.05, 0.0, Z - 0.3, Z + L), shadow_pid, Z + 0.5 * L)
    body = cv.new_part(body_role, cls, t)
    side = cv.new_part(body_role, cls, t, shade=0.72)
    top = cv.new_part(body_role, cls, t, shade=1.12)
    window = cv.new_part("vehicle_window", cls, t)
    side_window = cv.new_part("vehicle_window", cls, t, shade=0.8)
    wheel = cv.new_part("wheel", cls, t)
    dark = cv.new_part("vehicle_dark", cls, t)
    lamp = cv.new_part("head_light" if oncoming else "tail_light", cls, t)
    plate = cv.new_part("plate", cls, t)
    side_X = X0 if X0 > 0 else (X1 if X1 < 0 else None)

    def side_wheels(Zs: tuple[float, ...], r: float) -> None:
        if side_X is None:
            return
        for zw in Zs:
            cx = cam.x(side_X, zw)
            rx = 0.5 * abs(cam.x(side_X, zw - r) - cam.x(side_X, zw + r))
            fill_ellipse(cv, cx, cam.y(r, zw), max(rx, 1.0), cam.px(r, zw), wheel, Z)

    minw = 1.5 * cam.f / 128
    if kind == "car":
        low = rng.uniform(0.75, 0.9)
        cz0, cz1 = (Z + 1.2, Z + L - 0.9) if oncoming else (Z + 0.9, Z + L - 1.3)
        draw_box(cv, cam, X0 + 0.12, X1 - 0.12, low, h, cz0, cz1, body, side, top)
        if side_X is not None:
            sx = side_X + (0.12 if X0 > 0 else -0.12)
            fill_polygon(cv, side_quad(cam, sx, low + 0.08, h - 0.08, cz0 + 0.1, cz1 - 0.1), side_window, Z)
        face_rect(cv, cam, X0 + 0.2, X1 - 0.2, low + 0.07, h - 0.08, cz0, window)
        for xw in (X0 + 0.1, X1 - 0.35):
            face_rect(cv, cam, xw, xw + 0.25, 0.0, 0.4, Z + 0.6, wheel, min_w=minw)
        draw_box(cv, cam, X0, X1, 0.2, low, Z, Z + L, body, side, top)
        side_wheels((Z + 0.8, Z + L - 0.8), 0.32)
        for xl in (X0 + 0.05, X1 - 0.35):
            face_rect(cv, cam, xl, xl + 0.3, low - 0.22, low - 0.05, Z, lamp, min_w=minw, min_h=minw)
        face_rect(cv, cam, X - 0.25, X + 0.25, 0.3, 0.45, Z, plate)
    elif kind == "truck":
        cab_h, cab_L = rng.uniform(2.7, 3.0), 2.2
        cab = cv.new_part("truck_cab", TRUCK, t)
        cab_side = cv.new_part("truck_cab", TRUCK, t, shade=0.72)
        if oncoming:
            draw_box(cv, cam, X0, X1, 1.0, h, Z + cab_L + 0.2, Z + cab_L + 0.2 + L, body, side, top)
            draw_box(cv, cam, X0 + 0.1, X1 - 0.1, 0.5, cab_h, Z, Z + cab_L, cab, cab_side, cab)
            face_rect(cv, cam, X0 + 0.25, X1 - 0.25, 1.7, cab_h - 0.2, Z, window)
            face_rect(cv, cam, X0 + 0.4, X1 - 0.4, 0.7, 1.3, Z, dark)
            side_wheels((Z + 1.2, Z + cab_L + L - 1.0), 0.5)
        else:
            draw_box(cv, cam, X0 + 0.1, X1 - 0.1, 0.5, cab_h, Z + L + 0.2, Z + L + cab_L, cab, cab_side, cab)
            draw_box(cv, cam, X0 + 0.3, X1 - 0.3, 0.35, 1.0, Z + 0.3, Z + L, dark, dark, dark)
            for xw in (X0 + 0.05, X1 - 0.55):
                face_rect(cv, cam, xw, xw + 0.5, 0.0, 1.0, Z + 0.8, wheel, min_w=minw)
            draw_box(cv, cam, X0, X1, 1.0, h, Z, Z + L, body, side, top)
            face_rect(cv, cam, X - 0.03, X + 0.03, 1.1, h - 0.1, Z, dark, min_w=1.0)
            side_wheels((Z + 1.0, Z + L - 1.2), 0.5)
        for xl in (X0 + 0.1, X1 - 0.4):
            face_rect(cv, cam, xl, xl + 0.3, 0.45 if oncoming else 1.05, 0.7 if oncoming else 1.3, Z, lamp,
                      min_w=minw, min_h=minw)
    else:
        draw_box(cv, cam, X0, X1, 0.3, h, Z, Z + L, body, side, top)
        if side_X is not None:
            n = max(int(L / 1.4), 1)
            z_a = Z + 0.6
            step = (L - 1.2) / n
            for k in range(n):
                fill_polygon(cv, side_quad(cam, side_X, 1.3, h - 0.4, z_a + k * step + 0.1, z_a + (k + 1) * step - 0.1),
                             side_window, Z)
        if oncoming:
            face_rect(cv, cam, X0 + 0.1, X1 - 0.1, 1.1, h - 0.45, Z, window)
            sign = cv.new_part("bus_sign", BUS, t)
            face_rect(cv, cam, X0 + 0.3, X1 - 0.3, h - 0.38, h - 0.1, Z, sign, min_h=minw)
        else:
            face_rect(cv, cam, X0 + 0.2, X1 - 0.2, 2.0, h - 0.25, Z, window)
            face_rect(cv, cam, X0 + 0.4, X1 - 0.4, 0.6, 1.0, Z, dark)
        for xl in (X0 + 0.1, X1 - 0.45):
            face_rect(cv, cam, xl, xl + 0.35, 0.45, 0.75, Z, lamp, min_w=minw, min_h=minw)
        side_wheels((Z + 2.0, Z + L - 2.5), 0.5)

