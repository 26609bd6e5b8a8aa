"""One whole scene: sample a camera and a street, and paint everything far to near.

Order (and thus the geometry stream): camera, street, sky, ground, street end, the two
façades, then walls/fences (off by default), then trees and poles along the sidewalks,
an overhead traffic light, vehicles in the lanes and parked along the curbs,
pedestrians, two-wheelers (off by default); the objects are painted sorted by depth,
farthest first.

The switches ``WALLS_AND_FENCES`` and ``TWO_WHEELERS`` are read here at call time: set
``flexseg.data.synthdrive.scene.WALLS_AND_FENCES = True`` to draw walls and fences
(docs/synthdrive.md, Classes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from flexseg.data.synthdrive.camera import Camera, sample_camera
from flexseg.data.synthdrive.canvas import Canvas, random_tint
from flexseg.data.synthdrive.classes import PERSON, ROAD, SKY
from flexseg.data.synthdrive.objects import (
    MIN_PERSON_PX,
    draw_overhead_light,
    draw_person,
    draw_pole,
    draw_tree,
    draw_two_wheeler,
    draw_vehicle,
    draw_wall_or_fence,
)
from flexseg.data.synthdrive.street import Street, draw_facade, draw_ground, draw_street_end, sample_street

__all__ = ["MAX_VEHICLE_Z", "TWO_WHEELERS", "WALLS_AND_FENCES", "Scene", "build_scene"]

MAX_VEHICLE_Z = 35.0  # metres; no vehicles farther away (they would be a few px)
#: Classes drawn at all: walls/fences and two-wheelers (rider, motorcycle, bicycle)
#: can be switched on, but at 128×256 and a few hundred training steps they are not
#: learnable (IoU ≈ 0) and only lower mIoU, so the benchmark omits them by default.
WALLS_AND_FENCES = False
TWO_WHEELERS = False


@dataclass
class Scene:
    """A painted scene: canvas (parts, depth) and the camera and street that made it."""

    canvas: Canvas
    camera: Camera
    street: Street


def _lane_centres(st: Street) -> list[float]:
    return [st.road_l + (j + 0.5) * st.lane_w for j in range(st.n_lanes)]


def build_scene(rng: np.random.Generator, h: int, w: int) -> Scene:
    """Sample and paint one scene (far to near) into a part map.

    Part 0 is the sky; every later part belongs to the ground, a façade or an object.

    Args:
        rng: the geometry generator (the only source of randomness).
        h: image height, px.
        w: image width, px.

    Returns:
        The scene: its canvas (part map [h,w] int16, depth [h,w] float32 metres, per-part
        role/class/tint/shade), camera and street.

    Example:
        >>> scene = build_scene(np.random.default_rng(0), 64, 128)
        >>> scene.canvas.part.shape, scene.canvas.part.dtype.name, len(scene.canvas.roles)
        ((64, 128), 'int16', 133)
        >>> np.unique(scene.canvas.class_map()).tolist()
        [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 13, 15]
    """
    cam = sample_camera(rng, h, w)
    st = sample_street(rng)
    cv = Canvas(h, w)
    cv.new_part("sky", SKY, random_tint(rng))  # part 0
    draw_ground(cv, cam, st, rng)
    draw_street_end(cv, cam, st, rng)
    draw_facade(cv, cam, st.facade_l, st.z_end, rng)
    draw_facade(cv, cam, st.facade_r, st.z_end, rng)
    shadow = cv.new_part("shadow", ROAD, random_tint(rng))
    z_near = cam.f * cam.height / (h - cam.horizon) + 0.5  # depth of the bottom image row

    # walls / fences in front of the façades (drawn first: they are farthest laterally)
    for X, inner, sgn in ((st.facade_l, st.walk_l, -1), (st.facade_r, st.walk_r, 1)):
        if WALLS_AND_FENCES and rng.random() < 0.55:
            kind = "wall" if rng.random() < 0.5 else "fence"
            Xw = inner + sgn * 0.3 if X != inner and rng.random() < 0.5 else X - sgn * 0.2
            z0 = rng.uniform(z_near, 30.0)
            draw_wall_or_fence(cv, cam, Xw, z0, z0 + rng.uniform(6.0, 30.0), kind, rng)

    objects: list[tuple[float, Callable[[], None]]] = []

    def add(Z: float, fn: Callable[[], None]) -> None:
        objects.append((Z, fn))

    # trees and poles along the sidewalks
    for X_edge, X_out, sgn in ((st.road_l, st.walk_l, -1), (st.road_r, st.walk_r, 1)):
        outer = X_out if X_out != X_edge else X_edge + sgn * 1.5
        for Z in np.cumsum(rng.uniform(6.0, 16.0, size=6)) + z_near:
            if Z > 55:
                break
            if rng.random() < 0.5:
                Xt = outer - sgn * rng.uniform(0.3, 0.8)
                add(Z, lambda Xt=Xt, Z=Z: draw_tree(cv, cam, Xt, Z, rng))
        for Z in np.cumsum(rng.uniform(4.0, 10.0, size=8)) + z_near - 1.0:
            if Z > 40:
                break
            if rng.random() < 0.85:
                Xp = X_edge + sgn * rng.uniform(0.35, 0.7)
                add(Z, lambda Xp=Xp, Z=Z, s=-sgn: draw_pole(cv, cam, Xp, Z, s, rng))
    if rng.random() < 0.5:
        Zo = rng.uniform(8.0, 16.0)
        add(Zo, lambda: draw_overhead_light(cv, cam, st, Zo, rng))

    # vehicles in lanes (one per lane segment), parked cars along the curb
    lanes = _lane_centres(st)
    for j, Xl in enumerate(lanes):
        Z = z_near + rng.uniform(1.5, 12.0)
        while Z < MAX_VEHICLE_Z:
            if rng.random() < 0.55:
                kind = str(rng.choice(["car", "truck", "bus"], p=[0.7, 0.15, 0.15]))
                oncoming = st.two_way and j < st.n_lanes // 2
                Xv = Xl + rng.uniform(-0.3, 0.3)
                add(Z, lambda kind=kind, Xv=Xv, Z=Z, o=oncoming: draw_vehicle(cv, cam, kind, Xv, Z, o, rng, shadow))
            Z += rng.uniform(12.0, 28.0)
    for X_edge, sgn in ((st.road_l, 1), (st.road_r, -1)):
        if rng.random() < 0.35:
            for Z in np.cumsum(rng.uniform(5.5, 9.0, size=int(rng.integers(1, 4)))) + rng.uniform(z_near, 20.0):
                add(Z, lambda Xv=X_edge + sgn * 1.05, Z=Z: draw_vehicle(cv, cam, "car", Xv, Z, False, rng, shadow))

    # pedestrians on the sidewalks (and sometimes on the crossing), ≥ MIN_PERSON_PX tall
    z_far_person = 1.7 * 128 / MIN_PERSON_PX
    for _ in range(int(rng.poisson(3.5))):
        Z = rng.uniform(z_near + 0.5, max(z_far_person, z_near + 1.0))
        left = rng.random() < 0.5
        a, b = (st.walk_l, st.road_l) if left else (st.road_r, st.walk_r)
        if b - a < 0.8:
            a, b = (a - 1.5, a) if left else (b, b + 1.5)
        Xp = rng.uniform(a + 0.3, b - 0.3)
        add(Z, lambda Xp=Xp, Z=Z: draw_person(cv, cam, Xp, Z, PERSON, rng))
    if st.crossing is not None and rng.random() < 0.6:
        Z = st.crossing + 1.5
        for _ in range(int(rng.integers(1, 4))):
            Xp = rng.uniform(st.road_l + 0.5, st.road_r - 0.5)
            add(Z, lambda Xp=Xp, Z=Z: draw_person(cv, cam, Xp, Z, PERSON, rng))

    # cyclists / motorcyclists near the road edge, parked bicycles on the sidewalk
    if TWO_WHEELERS and rng.random() < 0.5:
        Z = rng.uniform(z_near + 1.0, 14.0)
        Xc = (st.road_l + 1.0) if rng.random() < 0.5 else (st.road_r - 1.0)
        motor = rng.random() < 0.3
        add(Z, lambda Xc=Xc, Z=Z, m=motor: draw_two_wheeler(cv, cam, Xc, Z, m, True, rng))
    if TWO_WHEELERS and rng.random() < 0.3:
        Z = rng.uniform(z_near + 1.0, 12.0)
        Xb = rng.uniform(st.walk_l + 0.2, st.road_l - 0.2) if st.walk_l < st.road_l - 0.5 else st.road_l - 1.0
        add(Z, lambda Xb=Xb, Z=Z: draw_two_wheeler(cv, cam, Xb, Z, False, False, rng))

    for _, fn in sorted(objects, key=lambda o: -o[0]):
        fn()
    return Scene(cv, cam, st)
