"""Appearance roles: what a part looks like, per role, in the source and clear domains.

Every painted part has a role (e.g. car body, vehicle window, wheel, sign face). A role
holds a palette for the ``source`` domain (GTA-like, saturated) and one for the target
domains (``clear``: Cityscapes-like, muted), a texture kind and amplitude, the size of the
per-instance colour jitter and, for lights and windows, an emission colour at night. A
part picks one palette entry with its tint (``canvas.Canvas``); ``styles`` turns roles
into colours.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from flexseg.data.synthdrive.textures import TEX_BLOTCH, TEX_FINE, TEX_FLAT, TEX_HSTREAK, TEX_LEAFY, TEX_VSTREAK

__all__ = ["NUM_ROLES", "PALETTE_WIDTH", "ROLES", "ROLE_LIST", "Rgb", "Role", "palette_sizes", "palette_table"]

Rgb = tuple[int, int, int]


@dataclass(frozen=True)
class Role:
    """An appearance role: ``name``; ``source`` and ``clear`` palettes (RGB 0–255; a part
    picks one entry with its tint); texture kind (``TEX_*``) and amplitude ``amp``;
    instance ``jitter`` (0–255 units); ``emission`` RGB at night or None."""

    name: str
    source: tuple[Rgb, ...]
    clear: tuple[Rgb, ...]
    texture: int
    amp: float
    jitter: float = 8.0
    emission: Rgb | None = None


_CAR_COLOURS: tuple[Rgb, ...] = (
    (20, 20, 140), (150, 20, 20), (230, 230, 225), (30, 30, 30), (160, 160, 165),
    (20, 90, 40), (200, 160, 20), (60, 20, 90), (100, 60, 30), (20, 110, 170),
)
_CAR_COLOURS_CLEAR: tuple[Rgb, ...] = (
    (60, 62, 70), (120, 118, 115), (190, 190, 188), (35, 36, 40), (95, 40, 40),
    (45, 55, 80), (150, 145, 130), (70, 75, 70), (170, 170, 172), (50, 48, 46),
)
_CLOTHES: tuple[Rgb, ...] = (
    (200, 30, 30), (30, 30, 200), (30, 140, 30), (230, 200, 30), (240, 240, 240),
    (20, 20, 20), (120, 60, 160), (230, 120, 20),
)
_CLOTHES_CLEAR: tuple[Rgb, ...] = (
    (40, 40, 45), (70, 60, 55), (110, 30, 35), (50, 60, 90), (160, 150, 140),
    (25, 25, 28), (90, 95, 100), (130, 110, 80),
)
ROLE_LIST: tuple[Role, ...] = (
    Role("sky", ((90, 160, 235),), ((170, 190, 210),), TEX_BLOTCH, 0.0, 10),
    Role("road", ((70, 68, 78),), ((105, 100, 102),), TEX_FINE, 0.12, 8),
    Role("lane_mark", ((235, 235, 235), (240, 200, 20)), ((200, 200, 195), (205, 180, 90)), TEX_FINE, 0.1, 5),
    Role("shadow", ((30, 28, 35),), ((55, 52, 55),), TEX_FINE, 0.1, 4),
    Role("sidewalk", ((190, 170, 150),), ((150, 145, 140),), TEX_FINE, 0.1, 10),
    Role("sidewalk_joint", ((130, 110, 100),), ((110, 105, 100),), TEX_FLAT, 0.0, 6),
    Role("curb", ((225, 220, 210),), ((175, 172, 168),), TEX_FINE, 0.08, 6),
    Role("terrain", ((120, 170, 50), (160, 140, 80)), ((120, 130, 80), (135, 125, 95)), TEX_HSTREAK, 0.25, 12),
    Role("building", ((200, 170, 120), (170, 90, 70), (150, 150, 160), (230, 220, 190), (120, 110, 100)),
         ((120, 115, 110), (140, 120, 100), (95, 95, 100), (165, 160, 150), (110, 90, 80)), TEX_BLOTCH, 0.12, 12),
    Role("window", ((60, 90, 130), (40, 50, 70)), ((55, 60, 70), (80, 85, 90)), TEX_FINE, 0.1, 10,
         emission=(255, 200, 120)),
    Role("wall", ((180, 170, 160), (150, 90, 70)), ((130, 125, 120), (115, 105, 95)), TEX_HSTREAK, 0.2, 10),
    Role("fence", ((150, 120, 80), (120, 120, 130)), ((110, 105, 95), (95, 95, 100)), TEX_VSTREAK, 0.2, 10),
    Role("fence_gap", ((60, 55, 50),), ((70, 70, 65),), TEX_FINE, 0.2, 8),
    Role("pole", ((110, 110, 120), (60, 70, 60)), ((90, 90, 92), (70, 72, 70)), TEX_VSTREAK, 0.1, 8),
    Role("streetlamp", ((240, 240, 200),), ((200, 200, 190),), TEX_FLAT, 0.0, 5, emission=(255, 230, 160)),
    Role("light_box", ((40, 40, 40), (190, 160, 20)), ((35, 35, 38), (60, 60, 55)), TEX_FLAT, 0.0, 6),
    Role("lamp_red", ((255, 30, 20),), ((200, 60, 50),), TEX_FLAT, 0.0, 5, emission=(255, 40, 30)),
    Role("lamp_yellow", ((255, 200, 0),), ((210, 170, 60),), TEX_FLAT, 0.0, 5, emission=(255, 190, 40)),
    Role("lamp_green", ((30, 230, 90),), ((70, 190, 130),), TEX_FLAT, 0.0, 5, emission=(60, 255, 140)),
    Role("lamp_off", ((70, 70, 60),), ((60, 60, 58),), TEX_FLAT, 0.0, 5),
    Role("sign_face", ((220, 20, 20), (20, 60, 200), (250, 210, 0), (245, 245, 245), (20, 130, 60)),
         ((170, 50, 50), (50, 80, 150), (200, 175, 60), (200, 200, 198), (50, 110, 70)), TEX_FLAT, 0.0, 8),
    Role("sign_inner", ((245, 245, 245), (245, 245, 245), (20, 20, 20), (200, 20, 20), (245, 245, 245)),
         ((200, 200, 198), (205, 205, 205), (40, 40, 40), (160, 50, 50), (205, 205, 205)), TEX_FLAT, 0.0, 8),
    Role("sign_back", ((140, 140, 150),), ((120, 120, 122),), TEX_FINE, 0.05, 8),
    Role("vegetation", ((50, 130, 30), (90, 150, 40), (30, 100, 50)), ((70, 90, 45), (85, 100, 55), (60, 80, 50)),
         TEX_LEAFY, 0.35, 12),
    Role("trunk", ((100, 70, 40),), ((80, 70, 60),), TEX_VSTREAK, 0.2, 10),
    Role("skin", ((240, 190, 150), (200, 150, 110), (130, 90, 60)), ((200, 160, 135), (170, 130, 105), (110, 80, 60)),
         TEX_FLAT, 0.0, 8),
    Role("hair", ((40, 25, 15), (200, 170, 80), (20, 20, 20)), ((40, 32, 28), (120, 100, 70), (25, 25, 25)),
         TEX_FINE, 0.1, 8),
    Role("cloth_top", _CLOTHES, _CLOTHES_CLEAR, TEX_FINE, 0.1, 15),
    Role("cloth_bottom", _CLOTHES[::-1], _CLOTHES_CLEAR[::-1], TEX_FINE, 0.1, 15),
    Role("car_body", _CAR_COLOURS, _CAR_COLOURS_CLEAR, TEX_FLAT, 0.0, 10),
    Role("vehicle_window", ((30, 40, 60),), ((40, 45, 50),), TEX_BLOTCH, 0.25, 8),
    Role("wheel", ((20, 20, 20),), ((28, 28, 30),), TEX_FINE, 0.1, 4),
    Role("tail_light", ((230, 20, 20),), ((170, 40, 40),), TEX_FLAT, 0.0, 5, emission=(255, 30, 20)),
    Role("head_light", ((250, 250, 220),), ((210, 210, 200),), TEX_FLAT, 0.0, 5, emission=(255, 250, 220)),
    Role("plate", ((240, 240, 240), (240, 220, 40)), ((200, 200, 195), (190, 180, 110)), TEX_FLAT, 0.0, 5),
    Role("truck_cab", ((230, 230, 230), (200, 60, 20), (30, 60, 160)), ((180, 180, 178), (140, 70, 50), (60, 70, 110)),
         TEX_FLAT, 0.0, 10),
    Role("cargo", ((240, 240, 235), (170, 170, 175), (200, 180, 40)), ((170, 168, 165), (130, 130, 132), (150, 140, 100)),
         TEX_VSTREAK, 0.08, 10),
    Role("vehicle_dark", ((45, 45, 50),), ((45, 45, 48),), TEX_FINE, 0.1, 5),
    Role("bus_body", ((230, 170, 0), (200, 30, 30), (240, 240, 240), (20, 100, 200)),
         ((180, 150, 60), (150, 55, 50), (185, 185, 183), (60, 90, 140)), TEX_FLAT, 0.0, 8),
    Role("bus_sign", ((255, 150, 0),), ((200, 150, 60),), TEX_FLAT, 0.0, 5, emission=(255, 160, 30)),
    Role("bike_frame", ((200, 30, 30), (30, 30, 200), (20, 20, 20), (200, 200, 200)),
         ((120, 50, 50), (50, 60, 100), (35, 35, 35), (150, 150, 150)), TEX_FLAT, 0.0, 10),
    Role("bike_tire", ((25, 25, 25),), ((30, 30, 32),), TEX_FLAT, 0.0, 4),
    Role("bike_spokes", ((150, 150, 150),), ((120, 120, 120),), TEX_FINE, 0.4, 8),
    Role("moto_body", ((220, 40, 20), (20, 20, 20), (40, 90, 200), (230, 200, 20)),
         ((130, 50, 40), (35, 35, 38), (60, 80, 120), (160, 140, 60)), TEX_FLAT, 0.0, 10),
)
#: Role name → role id (index into ``ROLE_LIST``).
ROLES: dict[str, int] = {r.name: i for i, r in enumerate(ROLE_LIST)}
NUM_ROLES = len(ROLE_LIST)


#: Entries per row of ``palette_table`` (the longest source palette).
PALETTE_WIDTH = max(len(r.source) for r in ROLE_LIST)


@lru_cache(maxsize=2)
def palette_table(which: str) -> np.ndarray:
    """The palettes of every role as one table, each role's palette cycled to ``PALETTE_WIDTH``.

    Args:
        which: ``"source"`` or ``"clear"``.

    Returns:
        float32 RGB colours (0–255), cached (do not modify).

    Shape:
        - Output: :math:`(R, P, 3)`, ``R = NUM_ROLES``, ``P = PALETTE_WIDTH``.

    Example:
        >>> table = palette_table("source")
        >>> table.shape
        (44, 10, 3)
        >>> table[ROLES["lane_mark"], :3].tolist()  # two colours, cycled
        [[235.0, 235.0, 235.0], [240.0, 200.0, 20.0], [235.0, 235.0, 235.0]]
    """
    table = np.zeros((NUM_ROLES, PALETTE_WIDTH, 3), np.float32)
    for i, role in enumerate(ROLE_LIST):
        colours = getattr(role, which)
        for k in range(PALETTE_WIDTH):
            table[i, k] = colours[k % len(colours)]
    return table


@lru_cache(maxsize=1)
def palette_sizes() -> np.ndarray:
    """The number of palette entries of every role (of its ``source`` palette).

    Returns:
        int64 counts, cached (do not modify).

    Shape:
        - Output: :math:`(R,)`, ``R = NUM_ROLES``.

    Example:
        >>> palette_sizes()[[ROLES["road"], ROLES["lane_mark"]]].tolist()
        [1, 2]
    """
    return np.array([len(r.source) for r in ROLE_LIST])

