"""The street: its lateral layout, and the ground, façades and street end painted from it.

A straight street along +Z: a road of 2–4 lanes between sidewalks (or none), verges of
terrain, and two façade planes (buildings with window grids, tree lines, gaps) up to a
street end at ``z_end``, closed by a skyline. Objects in the street are in ``objects``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexseg.data.synthdrive.camera import Camera
from flexseg.data.synthdrive.canvas import Canvas, random_tint
from flexseg.data.synthdrive.classes import BUILDING, ROAD, SIDEWALK, TERRAIN, VEGETATION
from flexseg.data.synthdrive.raster import face_rect
from flexseg.data.synthdrive.textures import TEX_BLOTCH, random_crop

__all__ = ["Block", "Street", "draw_facade", "draw_ground", "draw_street_end", "sample_blocks", "sample_street"]


@dataclass
class Street:
    """Lateral layout (metres, X): road [road_l, road_r], sidewalks out to walk_l/walk_r,
    façades at facade_l/facade_r; lanes of width ``lane_w``; street end at ``z_end``."""

    road_l: float
    road_r: float
    walk_l: float
    walk_r: float
    facade_l: float
    facade_r: float
    lane_w: float
    n_lanes: int
    two_way: bool
    z_end: float
    crossing: float | None  # Z of a zebra crossing


def sample_street(rng: np.random.Generator) -> Street:
    """A random street layout around the camera (at ``X = 0``, in a random lane).

    2, 3 or 4 lanes (p 0.45/0.35/0.2) of 3.0–3.6 m; sidewalks of 2–5 m (each missing with
    p 0.12); verges of 1–6 m (p 0.45, at least 2 m where a sidewalk is missing); two-way
    with p 0.5; street end at 45–90 m; a zebra crossing at 8–30 m with p 0.3.

    Args:
        rng: the geometry generator.

    Returns:
        The layout (metres).

    Example:
        >>> st = sample_street(np.random.default_rng(0))
        >>> st.n_lanes, bool(np.isclose(st.road_r - st.road_l, st.n_lanes * st.lane_w))
        (3, True)
        >>> bool(st.facade_l <= st.walk_l <= st.road_l < 0 < st.road_r <= st.walk_r <= st.facade_r)
        True
    """
    n_lanes = int(rng.choice([2, 3, 4], p=[0.45, 0.35, 0.2]))
    lane_w = rng.uniform(3.0, 3.6)
    cam_lane = rng.integers(0, n_lanes)
    road_l = -(cam_lane + rng.uniform(0.35, 0.65)) * lane_w
    road_r = road_l + n_lanes * lane_w
    walk = rng.uniform(2.0, 5.0, size=2) * (rng.random(2) > 0.12)
    verge = rng.uniform(1.0, 6.0, size=2) * (rng.random(2) < 0.45)
    verge = np.where(walk == 0, np.maximum(verge, 2.0), verge)
    walk_l, walk_r = road_l - walk[0], road_r + walk[1]
    return Street(
        road_l=road_l, road_r=road_r, walk_l=walk_l, walk_r=walk_r,
        facade_l=walk_l - verge[0], facade_r=walk_r + verge[1], lane_w=lane_w, n_lanes=n_lanes,
        two_way=bool(rng.random() < 0.5), z_end=rng.uniform(45.0, 90.0),
        crossing=float(rng.uniform(8.0, 30.0)) if rng.random() < 0.3 else None,
    )


def draw_ground(cv: Canvas, cam: Camera, st: Street, rng: np.random.Generator) -> None:
    """The ground plane below the horizon: road, lane markings, zebra crossing, curbs,
    tiled sidewalks and terrain verges (and their depth).

    Args:
        cv: the canvas to paint (after the sky part).
        cam: the camera.
        st: the street layout.
        rng: the geometry generator (part tints, tile size, dash phase, edge lines).

    Example:
        >>> from flexseg.data.synthdrive.camera import sample_camera
        >>> rng = np.random.default_rng(1)
        >>> cam, st, cv = sample_camera(rng, 32, 64), sample_street(rng), Canvas(32, 64)
        >>> sky = cv.new_part("sky", 10, random_tint(rng))
        >>> draw_ground(cv, cam, st, rng)
        >>> sorted(set(cv.class_map().ravel().tolist()))  # road, sidewalk, terrain, sky
        [0, 1, 9, 10]
        >>> round(cam.horizon, 2), bool((cv.part[12:] != sky).all())  # no sky below the horizon
        (11.98, True)
    """
    rows = cv.yc > cam.horizon + 0.25
    if not rows.any():
        return
    i0 = int(np.argmax(rows))
    Zg = (cam.f * cam.height / (cv.yc[i0:] - cam.horizon))[:, None]  # [h',1]
    Xg = (cv.xc[None, :] - cam.vx) * Zg / cam.f  # [h',W]
    sub = cv.part[i0:]
    depth = cv.depth[i0:]
    depth[:] = np.broadcast_to(Zg, depth.shape)
    ids = {name: cv.new_part(name, cls, random_tint(rng)) for name, cls in (
        ("road", ROAD), ("lane_mark", ROAD), ("sidewalk", SIDEWALK), ("sidewalk_joint", SIDEWALK),
        ("curb", SIDEWALK), ("terrain", TERRAIN))}
    sub[:] = ids["terrain"]
    on_walk = ((Xg >= st.walk_l) & (Xg < st.road_l)) | ((Xg > st.road_r) & (Xg <= st.walk_r))
    tile = rng.uniform(0.5, 0.9)
    joints = on_walk & ((np.mod(Xg, tile) < 0.07) | (np.mod(Zg, tile) < 0.07 * np.maximum(1.0, Zg / 8))) & (Zg < 25)
    sub[on_walk] = ids["sidewalk"]
    sub[joints] = ids["sidewalk_joint"]
    curb = ((Xg >= st.road_l - 0.2) & (Xg < st.road_l) & (st.walk_l < st.road_l)) | \
        ((Xg > st.road_r) & (Xg <= st.road_r + 0.2) & (st.walk_r > st.road_r))
    sub[curb] = ids["curb"]
    on_road = (Xg >= st.road_l) & (Xg <= st.road_r)
    sub[on_road] = ids["road"]
    # lane markings: dashed lane boundaries (solid centre line on two-way roads), edge lines
    half = 0.07 * np.maximum(1.0, Zg / 10.0)  # keep them ≥ ~1 px wide far away
    marks = np.zeros_like(on_road)
    dash = np.mod(Zg + rng.uniform(0, 6), 6.0) < 2.5
    centre = st.n_lanes // 2 if st.two_way else -1
    for j in range(1, st.n_lanes):
        line = np.abs(Xg - (st.road_l + j * st.lane_w)) < half
        marks |= line if j == centre else line & dash
    if rng.random() < 0.5:
        marks |= (np.abs(Xg - st.road_l - 0.3) < half) | (np.abs(Xg - st.road_r + 0.3) < half)
    if st.crossing is not None:
        zebra = (Zg >= st.crossing) & (Zg < st.crossing + 3.0) & (np.mod(Xg, 1.0) < 0.5)
        marks |= zebra
    sub[marks & on_road & (Zg < 60)] = ids["lane_mark"]


@dataclass
class Block:
    """A façade block along Z ∈ [z0, z1): ``kind`` building / vegetation / gap, height in metres."""

    z0: float
    z1: float
    kind: str
    height: float


def sample_blocks(rng: np.random.Generator, z_end: float) -> list[Block]:
    """Random façade blocks from Z = 0 to ``z_end``.

    Blocks of 7–25 m: buildings (p 0.62, 7–28 m high), vegetation (p 0.28) or gaps
    (p 0.1, 4–11 m); the last one is cut at ``z_end``.

    Args:
        rng: the geometry generator.
        z_end: the street end, m.

    Returns:
        Consecutive blocks covering [0, z_end).

    Example:
        >>> blocks = sample_blocks(np.random.default_rng(0), 40.0)
        >>> [b.kind for b in blocks], blocks[0].z0, blocks[-1].z1
        (['building', 'vegetation', 'vegetation'], 0.0, 40.0)
        >>> all(a.z1 == b.z0 for a, b in zip(blocks, blocks[1:]))
        True
    """
    blocks, z = [], 0.0
    while z < z_end:
        length = rng.uniform(7.0, 25.0)
        kind = str(rng.choice(["building", "vegetation", "gap"], p=[0.62, 0.28, 0.10]))
        height = rng.uniform(7.0, 28.0) if kind == "building" else rng.uniform(4.0, 11.0)
        blocks.append(Block(z, min(z + length, z_end), kind, height))
        z += length
    return blocks


def draw_facade(cv: Canvas, cam: Camera, X: float, z_end: float, rng: np.random.Generator) -> None:
    """Buildings (with perspective-correct window grids), tree lines and gaps on the
    vertical plane X = const, from the camera to ``z_end``; tree lines get a wobbly top.

    Args:
        cv: the canvas to paint.
        cam: the camera.
        X: lateral position of the façade plane, m (< 0: left, > 0: right).
        z_end: the street end, m.
        rng: the geometry generator.

    Example:
        >>> from flexseg.data.synthdrive.camera import Camera
        >>> cam, cv = Camera(f=32.0, height=1.5, horizon=12.0, vx=32.0), Canvas(32, 64)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> draw_facade(cv, cam, -6.0, 50.0, np.random.default_rng(0))
        >>> bool((cv.part[:, 40:] == sky).all()), bool((cv.part[:, :20] != sky).any())  # left side only
        (True, True)
    """
    left = X < 0
    cols = np.nonzero(cv.xc < cam.vx - 0.5)[0] if left else np.nonzero(cv.xc > cam.vx + 0.5)[0]
    if cols.size == 0:
        return
    Zc = cam.f * X / (cv.xc[cols] - cam.vx)
    keep = (Zc > 0) & (Zc <= z_end)
    cols, Zc = cols[keep], Zc[keep]
    if cols.size == 0:
        return
    blocks = sample_blocks(rng, z_end)
    edges = np.array([b.z0 for b in blocks] + [z_end])
    idx = np.clip(np.searchsorted(edges, Zc, side="right") - 1, 0, len(blocks) - 1)
    kinds = np.array([{"building": 0, "vegetation": 1, "gap": 2}[b.kind] for b in blocks])[idx]
    heights = np.array([b.height for b in blocks])[idx]
    wob = random_crop(TEX_BLOTCH, rng, 1, cv.w)[0, cols]
    heights = heights + np.where(kinds == 1, 1.2 * wob, 0.0)
    tints = [random_tint(rng) for _ in blocks]
    body = np.array([cv.new_part("building" if b.kind == "building" else "vegetation",
                                 BUILDING if b.kind == "building" else VEGETATION, t) for b, t in zip(blocks, tints)])
    win = np.array([cv.new_part("window", BUILDING, t) for t in tints])
    spacing = rng.uniform(2.2, 4.0, size=len(blocks))[idx]
    floor_h = rng.uniform(2.8, 3.6, size=len(blocks))[idx]
    phase = rng.random(len(blocks))[idx]
    y_top = cam.y(heights, Zc)
    y_bot = cam.y(0.0, Zc)
    i0 = max(int(np.floor(y_top.min())), 0)
    i1 = min(int(np.ceil(y_bot.max())) + 1, cv.h)
    if i0 >= i1:
        return
    c0, c1 = int(cols.min()), int(cols.max()) + 1
    sel = cols - c0
    yc = cv.yc[i0:i1, None]
    mask = (yc >= y_top[None]) & (yc < y_bot[None]) & (kinds[None] != 2)
    Yp = cam.height - (yc - cam.horizon) * Zc[None] / cam.f  # height on the façade, m
    windows = ((np.mod(Yp / floor_h[None], 1.0) > 0.35) & (np.mod(Yp / floor_h[None], 1.0) < 0.8)
               & (np.mod(Zc / spacing + phase, 1.0)[None] > 0.25) & (np.mod(Zc / spacing + phase, 1.0)[None] < 0.7)
               & (Yp > 1.0) & (Yp < heights[None] - 1.0) & (kinds[None] == 0))
    ids = np.where(windows, win[idx][None], body[idx][None]).astype(np.int16)
    part_view = cv.part[i0:i1, c0:c1]
    depth_view = cv.depth[i0:i1, c0:c1]
    sub_part = part_view[:, sel]
    sub_depth = depth_view[:, sel]
    sub_part[mask] = ids[mask]
    sub_depth[mask] = np.broadcast_to(Zc[None], mask.shape)[mask]
    part_view[:, sel] = sub_part
    depth_view[:, sel] = sub_depth


def draw_street_end(cv: Canvas, cam: Camera, st: Street, rng: np.random.Generator) -> None:
    """Skyline at the street end: 2–4 segments on the plane Z = ``z_end`` between the
    two façades, each a building (p 0.7, 8–35 m high) or vegetation (5–12 m).

    Args:
        cv: the canvas to paint.
        cam: the camera.
        st: the street layout.
        rng: the geometry generator.

    Example:
        >>> from flexseg.data.synthdrive.camera import Camera
        >>> cam, cv = Camera(f=32.0, height=1.5, horizon=12.0, vx=32.0), Canvas(32, 64)
        >>> sky = cv.new_part("sky", 10, np.zeros(4, np.float32))
        >>> st = sample_street(np.random.default_rng(0))
        >>> draw_street_end(cv, cam, st, np.random.default_rng(0))
        >>> painted = cv.part != sky
        >>> bool(painted.any()), bool(np.allclose(cv.depth[painted], st.z_end))
        (True, True)
    """
    Z = st.z_end
    cuts = np.sort(rng.uniform(st.facade_l, st.facade_r, size=int(rng.integers(1, 4))))
    xs = np.concatenate([[st.facade_l], cuts, [st.facade_r]])
    for a, b in zip(xs[:-1], xs[1:]):
        building = rng.random() < 0.7
        height = rng.uniform(8.0, 35.0) if building else rng.uniform(5.0, 12.0)
        pid = cv.new_part("building" if building else "vegetation", BUILDING if building else VEGETATION,
                          random_tint(rng))
        face_rect(cv, cam, a, b, 0.0, height, Z, pid)

