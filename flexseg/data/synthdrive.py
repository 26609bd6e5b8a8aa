"""SynthDrive: the embedded procedural driving benchmark (docs/design.md §5).

Deterministic driving scenes in the 19 Cityscapes train ids, rendered on the fly with
vectorized numpy (no files, no network, ~10 ms per 128×256 sample).

**Scenes.** A pinhole camera (focal ``f ≈ sqrt(H·W/2)`` px, height 1.4–1.8 m) looks down
a straight street. The ground plane holds a road with 2–4 lanes (dashed lane markings,
zebra crossings, vehicle shadows), curbs, tiled sidewalks and grass verges (terrain);
two façade planes hold blocks of buildings (perspective-correct window grids), tree
lines (vegetation) or gaps, and a street-end skyline closes the view. In front stand
trees, poles (most with traffic signs, traffic lights or street lamps, plus overhead
traffic lights on mast arms), pedestrians (head, hair, torso, arms, legs) and vehicles
drawn as 3-D boxes (cars with a cabin, windows, wheels, lights and plate; trucks with
cab + cargo box; buses with a window band). Objects are sized in metres and projected,
with minimum pixel sizes (``MIN_*_PX``: poles ≥ 6 px wide, signs ≥ 12 px, light boxes
≥ 10 px wide, people ≥ 28 px tall at 128×256) so that every class drawn is learnable
at small resolution in a few hundred steps.

**Classes.** 13 of the 19 train ids occur: road, sidewalk, building, pole, traffic
light, traffic sign, vegetation, terrain, sky, person, car, truck, bus. ``train`` never
occurs; ``wall``/``fence`` (``WALLS_AND_FENCES``) and ``rider``/``motorcycle``/
``bicycle`` (``TWO_WHEELERS``: side-view bikes with riders, parked bicycles) are
implemented but off, because at 128×256 and a CPU-sized training run they stay at
IoU ≈ 0 and would only lower mIoU. mIoU over the classes present is unaffected by the
missing ids (their union stays empty unless a model predicts them).

**Rendering.** Geometry is painted (far to near) into a *part map*: every primitive is a
part with an appearance role (e.g. car body, vehicle window, wheel, sign face), a class,
a per-instance random tint and a shade (side faces darker). A style maps parts to
colours, texture kinds and texture amplitudes; the image is colour × (1 + amp·texture)
(textures: crops of a fixed bank of fine grain / leafy / blotchy / streaky noise), a sky
gradient with clouds, global lighting, blur and sensor noise. The label is the class of
each pixel's part, so class identity is carried by shape, texture and context as well
as colour.

**Domains.**
- ``source``: GTA-like, fixed saturated palette per role, small per-image jitter.
- ``generated``: a random style per image, like a diffusion model repainting a GTA mask
  (colours inter-/extrapolated between the source and clear palettes with per-role
  random gains and offsets, a random share ≤ ``GEN_WILD`` of roles in fully random
  colours, random texture kinds/amplitudes, random sky, light, blur and noise),
  *rendered from a warped copy of the part map*: a smooth random displacement field
  (peak ``misalignment_px`` pixels) times a boundary-proximity weight
  ``exp(-max(d − A, 0)/σ)`` (``d``: chessboard distance to the nearest label boundary,
  ``A = misalignment_px``, ``σ = max(1, A/2)``, zero beyond ``A + 4σ``), so object
  edges move by up to about ``A`` pixels and interiors stay aligned. The returned label
  is the unwarped one; ``misalignment_px=0`` gives perfect alignment.
- ``clear``: a realistic but different palette (Cityscapes-like, muted) and lighting.
- ``fog``: clear + haze ``I·t + A·(1−t)``, ``t = exp(−β·depth)`` (visibility 60–150 m).
- ``night``: clear darkened and tinted blue, emissive head/tail lights, traffic lights,
  street lamps and lit windows with glow, sensor noise.
- ``rain``: clear darkened and desaturated, wet-road reflections, rain streaks, blur.
- ``snow``: bright, low contrast, snow-covered ground and vegetation, falling flakes.

Targets (``clear`` … ``snow``) are for evaluation only. Sample ``i`` is a function of
``(seed, domain, i)`` only (numpy Generators seeded from a hash of the three), so
training sets and test sets with different seeds are disjoint.

CLI: ``python -m flexseg.data.synthdrive --preview docs/synthdrive.png [--num 4]
[--seed 0] [--misalignment 4]`` writes a grid (one row per domain: image, colorized
label, label edges over the image).
"""
from __future__ import annotations

import argparse
import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from flexseg.data.labels import NUM_CLASSES, colorize

DOMAINS: tuple[str, ...] = ("source", "generated", "clear", "fog", "night", "rain", "snow")
TRAIN_DOMAINS: tuple[str, ...] = ("source", "generated")
TARGET_DOMAINS: tuple[str, ...] = ("clear", "fog", "night", "rain", "snow")

# Cityscapes train ids.
(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY, PERSON,
 RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE) = range(NUM_CLASSES)

SKY_DEPTH = 1000.0  # metres; depth given to sky pixels (fog, night)

# Minimum on-image sizes (px at the reference focal length of 128 px, i.e. 128×256
# images; scaled with the focal length), chosen so thin/small classes stay learnable.
MIN_POLE_PX = 6.0  # pole width
MIN_SIGN_PX = 12.0  # traffic-sign size
MIN_LIGHT_PX = 10.0  # traffic-light box width (height 2.6×)
MIN_PERSON_PX = 28.0  # pedestrian height
MAX_VEHICLE_Z = 35.0  # metres; no vehicles farther away (they would be a few px)
#: Classes drawn at all: walls/fences and two-wheelers (rider, motorcycle, bicycle)
#: can be switched on, but at 128×256 and a few hundred training steps they are not
#: learnable (IoU ≈ 0) and only lower mIoU, so the benchmark omits them by default.
WALLS_AND_FENCES = False
TWO_WHEELERS = False
#: Upper bound of the per-image share of roles the ``generated`` style paints in
#: fully random colours.
GEN_WILD = 0.1
#: Probability that the ``generated`` style keeps a role's own texture kind.
GEN_KEEP_TEXTURE = 0.75

# --------------------------------------------------------------------------- roles
# An appearance role: (name, source colours, clear colours, texture kind, texture amp,
# instance jitter (0–255 units), emission RGB at night or None). Colours are lists; a part
# picks one with its tint.
Rgb = tuple[int, int, int]
TEX_FLAT, TEX_FINE, TEX_LEAFY, TEX_BLOTCH, TEX_HSTREAK, TEX_VSTREAK = range(6)
NUM_TEXTURES = 6


@dataclass(frozen=True)
class Role:
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
_ROLE_LIST: tuple[Role, ...] = (
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
ROLES: dict[str, int] = {r.name: i for i, r in enumerate(_ROLE_LIST)}
NUM_ROLES = len(_ROLE_LIST)
_R = ROLES  # short alias for the drawing code


PALETTE_WIDTH = max(len(r.source) for r in _ROLE_LIST)


@lru_cache(maxsize=2)
def _palette_table(which: str) -> np.ndarray:
    """[NUM_ROLES, PALETTE_WIDTH, 3] float32 colours (role palettes cycled)."""
    table = np.zeros((NUM_ROLES, PALETTE_WIDTH, 3), np.float32)
    for i, role in enumerate(_ROLE_LIST):
        colours = getattr(role, which)
        for k in range(PALETTE_WIDTH):
            table[i, k] = colours[k % len(colours)]
    return table


@lru_cache(maxsize=1)
def _palette_sizes() -> np.ndarray:
    return np.array([len(r.source) for r in _ROLE_LIST])


# --------------------------------------------------------------------------- hashing
def sample_seed(seed: int, domain: str, index: int) -> int:
    """A 64-bit seed that depends only on (seed, domain, index)."""
    digest = hashlib.blake2b(f"synthdrive/{int(seed)}/{domain}/{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _streams(seed: int, domain: str, index: int) -> tuple[np.random.Generator, ...]:
    """Independent generators for (geometry, style, warp, weather) of one sample."""
    children = np.random.SeedSequence(sample_seed(seed, domain, index)).spawn(4)
    return tuple(np.random.default_rng(c) for c in children)


# --------------------------------------------------------------------------- textures
_BANK_SHAPE = (256, 512)


def _lowpass(noise: np.ndarray, sy: float, sx: float) -> np.ndarray:
    """Gaussian low-pass of a periodic field (std ``sy``, ``sx`` pixels) via FFT."""
    fy = np.fft.fftfreq(noise.shape[0])[:, None]
    fx = np.fft.fftfreq(noise.shape[1])[None, :]
    kernel = np.exp(-2 * np.pi**2 * ((fy * sy) ** 2 + (fx * sx) ** 2))
    return np.real(np.fft.ifft2(np.fft.fft2(noise) * kernel))


def _standardize(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    return np.clip(x / (x.std() + 1e-8), -2.5, 2.5).astype(np.float32)


@lru_cache(maxsize=1)
def texture_bank() -> np.ndarray:
    """[NUM_TEXTURES, 256, 512] float32 periodic noise fields, zero mean, unit std.

    Kinds: flat, fine grain, leafy (band-pass, saturated), blotchy (σ≈10 px),
    horizontal and vertical streaks. Fixed seed: identical in every process.
    """
    rng = np.random.default_rng(20251125)
    h, w = _BANK_SHAPE
    white = [rng.normal(size=(h, w)) for _ in range(5)]
    leafy = _lowpass(white[1], 1.2, 1.2) - 0.7 * _lowpass(white[1], 3.5, 3.5)
    fields = [
        np.zeros((h, w)),
        _lowpass(white[0], 0.6, 0.6),
        np.tanh(2.0 * leafy / leafy.std()),
        _lowpass(white[2], 10.0, 10.0),
        _lowpass(white[3], 0.8, 8.0),
        _lowpass(white[4], 8.0, 0.8),
    ]
    bank = np.stack([_standardize(f) if f.any() else f.astype(np.float32) for f in fields])
    return bank


def _bank_crop(kind: int | slice, oy: int, ox: int, h: int, w: int) -> np.ndarray:
    """[h,w] crop of texture ``kind`` (or [k,h,w] for a slice of kinds) at offset
    (oy, ox), wrapping around the periodic bank when needed."""
    bank = texture_bank()[kind]
    bh, bw = bank.shape[-2:]
    if oy + h <= bh and ox + w <= bw:
        return bank[..., oy:oy + h, ox:ox + w]
    return bank[..., (oy + np.arange(h))[:, None] % bh, (ox + np.arange(w))[None, :] % bw]


def random_crop(kind: int | slice, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A crop of texture ``kind`` at a random offset (no wrap when it fits)."""
    bh, bw = _BANK_SHAPE
    oy = int(rng.integers(0, bh - h + 1)) if h <= bh else int(rng.integers(0, bh))
    ox = int(rng.integers(0, bw - w + 1)) if w <= bw else int(rng.integers(0, bw))
    return _bank_crop(kind, oy, ox, h, w)


# --------------------------------------------------------------------------- canvas
@dataclass
class Camera:
    """Pinhole camera looking along +Z; X right, Y up (metres); image x right, y down."""

    f: float  # focal length, px
    height: float  # camera height above ground, m
    horizon: float  # image row of the horizon, px
    vx: float  # image column of the vanishing point, px

    def x(self, X: float | np.ndarray, Z: float | np.ndarray) -> float | np.ndarray:
        return self.vx + self.f * X / Z

    def y(self, Y: float | np.ndarray, Z: float | np.ndarray) -> float | np.ndarray:
        return self.horizon + self.f * (self.height - Y) / Z

    def px(self, size_m: float, Z: float) -> float:
        """Projected size (px) of ``size_m`` metres at depth ``Z``."""
        return self.f * size_m / Z


@dataclass
class Canvas:
    """Part map under construction: ``part`` [H,W] int16 ids, ``depth`` [H,W] metres,
    and per-part role, class, tint (4 floats in [0,1)) and shade (brightness factor)."""

    h: int
    w: int
    part: np.ndarray = field(init=False)
    depth: np.ndarray = field(init=False)
    roles: list[int] = field(default_factory=list)
    classes: list[int] = field(default_factory=list)
    tints: list[np.ndarray] = field(default_factory=list)
    shades: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.part = np.zeros((self.h, self.w), np.int16)
        self.depth = np.full((self.h, self.w), SKY_DEPTH, np.float32)
        self.xc = np.arange(self.w, dtype=np.float32) + 0.5
        self.yc = np.arange(self.h, dtype=np.float32) + 0.5

    def new_part(self, role: str, cls: int, tint: np.ndarray, shade: float = 1.0) -> int:
        self.roles.append(_R[role])
        self.classes.append(cls)
        self.tints.append(tint)
        self.shades.append(shade)
        return len(self.roles) - 1

    def window(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice] | None:
        """Pixel slices whose centres lie in [x0,x1)×[y0,y1); None if empty."""
        j0, j1 = max(math.ceil(x0 - 0.5), 0), min(math.ceil(x1 - 0.5), self.w)
        i0, i1 = max(math.ceil(y0 - 0.5), 0), min(math.ceil(y1 - 0.5), self.h)
        if j0 >= j1 or i0 >= i1:
            return None
        return slice(i0, i1), slice(j0, j1)

    def paint(self, win: tuple[slice, slice], mask: np.ndarray | None, pid: int, z: float) -> None:
        """Set ``part`` to ``pid`` and ``depth`` to ``z`` where ``mask`` (within ``win``)."""
        if mask is None:
            self.part[win] = pid
            self.depth[win] = z
        else:
            self.part[win][mask] = pid
            self.depth[win][mask] = z

    def class_map(self, part: np.ndarray | None = None) -> np.ndarray:
        """[H,W] int64 train ids of ``part`` (default: this canvas's part map)."""
        lut = np.asarray(self.classes, np.int64)
        return lut[self.part if part is None else part]


# --------------------------------------------------------------------------- primitives
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


def _side_quad(cam: Camera, X: float, Y0: float, Y1: float, Z0: float, Z1: float) -> np.ndarray:
    """Image quad of the vertical rectangle X = const, Y∈[Y0,Y1], Z∈[Z0,Z1]."""
    return np.array([
        (cam.x(X, Z0), cam.y(Y0, Z0)), (cam.x(X, Z0), cam.y(Y1, Z0)),
        (cam.x(X, Z1), cam.y(Y1, Z1)), (cam.x(X, Z1), cam.y(Y0, Z1)),
    ])


def _flat_quad(cam: Camera, X0: float, X1: float, Y: float, Z0: float, Z1: float) -> np.ndarray:
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
        fill_polygon(cv, _side_quad(cam, X0, Y0, Y1, Z0, Z1), side, Z0)
    elif X1 < 0:
        fill_polygon(cv, _side_quad(cam, X1, Y0, Y1, Z0, Z1), side, Z0)
    if Y1 < cam.height:
        fill_polygon(cv, _flat_quad(cam, X0, X1, Y1, Z0, Z1), top, Z0)
    fill_rect(cv, cam.x(X0, Z0), cam.y(Y1, Z0), cam.x(X1, Z0), cam.y(Y0, Z0), face, Z0)


def face_rect(cv: Canvas, cam: Camera, X0: float, X1: float, Y0: float, Y1: float, Z: float, pid: int,
              min_w: float = 0.0, min_h: float = 0.0) -> None:
    """Rectangle on the plane Z = const, in metres."""
    fill_rect(cv, cam.x(X0, Z), cam.y(Y1, Z), cam.x(X1, Z), cam.y(Y0, Z), pid, Z, min_w, min_h)


# --------------------------------------------------------------------------- scene layout
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


def sample_camera(rng: np.random.Generator, h: int, w: int) -> Camera:
    f = math.sqrt(h * w / 2.0) * rng.uniform(0.9, 1.15)
    return Camera(f=f, height=rng.uniform(1.4, 1.8), horizon=h * rng.uniform(0.36, 0.46),
                  vx=w * rng.uniform(0.42, 0.58))


def sample_street(rng: np.random.Generator) -> Street:
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


def _tint(rng: np.random.Generator) -> np.ndarray:
    return rng.random(4).astype(np.float32)


def draw_ground(cv: Canvas, cam: Camera, st: Street, rng: np.random.Generator) -> None:
    """Road, lane markings, zebra, curbs, tiled sidewalks and verges below the horizon."""
    rows = cv.yc > cam.horizon + 0.25
    if not rows.any():
        return
    i0 = int(np.argmax(rows))
    Zg = (cam.f * cam.height / (cv.yc[i0:] - cam.horizon))[:, None]  # [h',1]
    Xg = (cv.xc[None, :] - cam.vx) * Zg / cam.f  # [h',W]
    sub = cv.part[i0:]
    depth = cv.depth[i0:]
    depth[:] = np.broadcast_to(Zg, depth.shape)
    ids = {name: cv.new_part(name, cls, _tint(rng)) for name, cls in (
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
    """A façade block along Z: ``kind`` building / vegetation / gap, height in metres."""

    z0: float
    z1: float
    kind: str
    height: float


def sample_blocks(rng: np.random.Generator, z_end: float) -> list[Block]:
    blocks, z = [], 0.0
    while z < z_end:
        length = rng.uniform(7.0, 25.0)
        kind = str(rng.choice(["building", "vegetation", "gap"], p=[0.62, 0.28, 0.10]))
        height = rng.uniform(7.0, 28.0) if kind == "building" else rng.uniform(4.0, 11.0)
        blocks.append(Block(z, min(z + length, z_end), kind, height))
        z += length
    return blocks


def draw_facade(cv: Canvas, cam: Camera, X: float, z_end: float, rng: np.random.Generator) -> None:
    """Buildings (with window grids), tree lines and gaps on the vertical plane X = const."""
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
    tints = [_tint(rng) for _ in blocks]
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
    """Skyline segments on the plane Z = z_end between the two façades."""
    Z = st.z_end
    cuts = np.sort(rng.uniform(st.facade_l, st.facade_r, size=int(rng.integers(1, 4))))
    xs = np.concatenate([[st.facade_l], cuts, [st.facade_r]])
    for a, b in zip(xs[:-1], xs[1:]):
        building = rng.random() < 0.7
        height = rng.uniform(8.0, 35.0) if building else rng.uniform(5.0, 12.0)
        pid = cv.new_part("building" if building else "vegetation", BUILDING if building else VEGETATION,
                          _tint(rng))
        face_rect(cv, cam, a, b, 0.0, height, Z, pid)


def draw_tree(cv: Canvas, cam: Camera, X: float, Z: float, rng: np.random.Generator) -> None:
    t = _tint(rng)
    trunk = cv.new_part("trunk", VEGETATION, t)
    crown = cv.new_part("vegetation", VEGETATION, t)
    trunk_h, r = rng.uniform(2.0, 3.5), rng.uniform(1.5, 3.0)
    face_rect(cv, cam, X - 0.15, X + 0.15, 0.0, trunk_h + 0.5 * r, Z, trunk, min_w=2.0)
    wobble = (rng.uniform(0.0, 0.08, size=4), rng.uniform(0, 2 * np.pi, size=4))
    fill_ellipse(cv, cam.x(X, Z), cam.y(trunk_h + r, Z), cam.px(r, Z), cam.px(r * rng.uniform(0.8, 1.2), Z),
                 crown, Z, wobble)


def draw_sign(cv: Canvas, cam: Camera, X: float, Y: float, Z: float, rng: np.random.Generator) -> None:
    """A traffic sign (circle, triangle, square or diamond) centred at (X, Y, Z), ≥ 6 px."""
    t = _tint(rng)
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
    """A 3-lamp traffic light box with top at height ``Y``, ≥ 6 px wide."""
    t = _tint(rng)
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
    """A pole (≥ 3 px wide) with an optional sign, traffic light or street-lamp arm."""
    t = _tint(rng)
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
    """A mast arm across the road from a roadside pole, holding 1–2 traffic lights."""
    left = rng.random() < 0.5
    X = st.road_l - 0.5 if left else st.road_r + 0.5
    pole = cv.new_part("pole", POLE, _tint(rng))
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
    """A wall or a fence (bars with darker gaps) on the plane X = const, Z∈[Z0,Z1]."""
    t = _tint(rng)
    height = rng.uniform(1.0, 2.5) if kind == "wall" else rng.uniform(1.0, 2.0)
    cls = WALL if kind == "wall" else FENCE
    body = cv.new_part(kind, cls, t)
    quad = _side_quad(cam, X, 0.0, height, max(Z0, 1.0), Z1)
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
    """A pedestrian (or, with ``seated``, a rider's upper body from the hips at ``base_y`` m)."""
    t = _tint(rng)
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
    """A side-view bicycle or motorcycle, optionally with a rider on it."""
    cls = MOTORCYCLE if motor else BICYCLE
    t = _tint(rng)
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
        rider_t = _tint(rng)
        legs = cv.new_part("cloth_bottom", RIDER, rider_t)
        hipY = (yb - seat[1]) / s + 0.05
        fill_segment(cv, seat[0], seat[1] - 0.05 * s, x0 + face * 0.1 * s, yb - 0.3 * s, max(0.15 * s, 1.5), legs, Z)
        draw_person(cv, cam, X - face * 0.15, Z, RIDER, rng, seated=True, base_y=hipY)


def draw_vehicle(cv: Canvas, cam: Camera, kind: str, X: float, Z: float, oncoming: bool, rng: np.random.Generator,
                 shadow_pid: int) -> None:
    """Car, truck or bus as boxes with windows, wheels and lights; near face at depth Z."""
    t = _tint(rng)
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
    fill_polygon(cv, _flat_quad(cam, X0 - 0.05, X1 + 0.05, 0.0, Z - 0.3, Z + L), shadow_pid, Z + 0.5 * L)
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
            fill_polygon(cv, _side_quad(cam, sx, low + 0.08, h - 0.08, cz0 + 0.1, cz1 - 0.1), side_window, Z)
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
                fill_polygon(cv, _side_quad(cam, side_X, 1.3, h - 0.4, z_a + k * step + 0.1, z_a + (k + 1) * step - 0.1),
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


# --------------------------------------------------------------------------- full scene
@dataclass
class Scene:
    """A painted scene: canvas (parts, depth) and the camera and street that made it."""

    canvas: Canvas
    camera: Camera
    street: Street


def _lane_centres(st: Street) -> list[float]:
    return [st.road_l + (j + 0.5) * st.lane_w for j in range(st.n_lanes)]


def build_scene(rng: np.random.Generator, h: int, w: int) -> Scene:
    """Sample and paint one scene (far to near) into a part map."""
    cam = sample_camera(rng, h, w)
    st = sample_street(rng)
    cv = Canvas(h, w)
    cv.new_part("sky", SKY, _tint(rng))  # part 0
    draw_ground(cv, cam, st, rng)
    draw_street_end(cv, cam, st, rng)
    draw_facade(cv, cam, st.facade_l, st.z_end, rng)
    draw_facade(cv, cam, st.facade_r, st.z_end, rng)
    shadow = cv.new_part("shadow", ROAD, _tint(rng))
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


# --------------------------------------------------------------------------- styles
@dataclass
class Style:
    """Per-part appearance: colours [P,3] (0–255), texture kind [P], amplitude [P];
    sky zenith/horizon colours, cloudiness, global gain [3], blur passes, noise σ."""

    colours: np.ndarray
    kinds: np.ndarray
    amps: np.ndarray
    zenith: np.ndarray
    horizon: np.ndarray
    clouds: float
    gain: np.ndarray
    blur: int
    noise: float


def _part_colours(cv: Canvas, table: np.ndarray, jitter_scale: float, role_offset: np.ndarray) -> np.ndarray:
    """[P,3] colours: palette entry picked by tint[0], instance jitter by tint[1:4]."""
    roles = np.asarray(cv.roles)
    tints = np.stack(cv.tints)
    sizes = _palette_sizes()[roles]
    pick = np.minimum((tints[:, 0] * sizes).astype(int), sizes - 1)
    base = table[roles, pick]
    jit = np.array([_ROLE_LIST[r].jitter for r in roles], np.float32)[:, None]
    colours = base + role_offset[roles] + jitter_scale * jit * (2 * tints[:, 1:4] - 1)
    return colours * np.asarray(cv.shades, np.float32)[:, None]


def _fixed_textures(cv: Canvas, amp_scale: float) -> tuple[np.ndarray, np.ndarray]:
    roles = cv.roles
    kinds = np.array([_ROLE_LIST[r].texture for r in roles], np.int64)
    amps = np.array([_ROLE_LIST[r].amp for r in roles], np.float32) * amp_scale
    return kinds, amps


def source_style(cv: Canvas, rng: np.random.Generator) -> Style:
    """GTA-like: fixed saturated palette, small per-image jitter."""
    offset = rng.normal(0, 6, size=(NUM_ROLES, 3)).astype(np.float32)
    kinds, amps = _fixed_textures(cv, rng.uniform(0.8, 1.2))
    return Style(
        colours=_part_colours(cv, _palette_table("source"), 1.0, offset), kinds=kinds, amps=amps,
        zenith=np.array([40, 110, 230], np.float32) + rng.normal(0, 8, 3),
        horizon=np.array([170, 210, 245], np.float32) + rng.normal(0, 8, 3),
        clouds=rng.uniform(0.0, 0.6), gain=np.full(3, rng.uniform(0.9, 1.1), np.float32) + rng.normal(0, 0.02, 3),
        blur=0, noise=rng.uniform(1.0, 3.0),
    )


def clear_style(cv: Canvas, rng: np.random.Generator) -> Style:
    """Cityscapes-like: muted realistic palette, softer, slightly warm or cool light."""
    offset = rng.normal(0, 5, size=(NUM_ROLES, 3)).astype(np.float32)
    kinds, amps = _fixed_textures(cv, rng.uniform(0.6, 1.0))
    warm = rng.uniform(-0.06, 0.06)
    return Style(
        colours=_part_colours(cv, _palette_table("clear"), 1.0, offset), kinds=kinds, amps=amps,
        zenith=np.array([120, 150, 190], np.float32) + rng.normal(0, 10, 3),
        horizon=np.array([200, 210, 220], np.float32) + rng.normal(0, 8, 3),
        clouds=rng.uniform(0.2, 0.9),
        gain=np.array([1 + warm, 1.0, 1 - warm], np.float32) * rng.uniform(0.85, 1.1),
        blur=1, noise=rng.uniform(1.5, 3.5),
    )


def _random_colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """[n,3] random colours, uniform in hue, varied saturation and value (0–255)."""
    hue = rng.random(n)
    sat = rng.uniform(0.05, 0.95, n)
    val = rng.uniform(0.12, 0.98, n)
    k = (np.arange(3)[None, :] * 2.0 + hue[:, None] * 6.0) % 6.0  # r, g, b phases
    rgb = val[:, None] * (1 - sat[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1))
    return (255 * rgb[:, [2, 1, 0]]).astype(np.float32)


_SKIES: tuple[tuple[Rgb, Rgb], ...] = (  # plausible (zenith, horizon) pairs
    ((40, 110, 230), (170, 210, 245)), ((120, 150, 190), (200, 210, 220)), ((150, 155, 165), (205, 205, 210)),
    ((70, 90, 160), (240, 170, 120)), ((90, 140, 200), (235, 235, 240)), ((60, 70, 110), (150, 150, 170)),
)


def generated_style(cv: Canvas, rng: np.random.Generator) -> Style:
    """Random restyling, like a diffusion model repainting a mask: per image, colours
    interpolated/extrapolated between the source and clear palettes, then per-role
    random gains and offsets, a random share (up to ``GEN_WILD``) of roles with fully
    random colours, random texture kinds/amplitudes, random sky, light, blur and noise."""
    t = rng.uniform(-0.3, 1.3)
    src, clr = _palette_table("source"), _palette_table("clear")
    table = src + t * (clr - src)
    gains = np.exp(rng.normal(0, 0.25, size=(NUM_ROLES, 1, 3))).astype(np.float32)
    offsets = rng.normal(0, 20, size=(NUM_ROLES, 1, 3)).astype(np.float32)
    table = table * gains + offsets
    wild = rng.random(NUM_ROLES) < rng.uniform(0.0, GEN_WILD)
    random_table = _random_colours(rng, NUM_ROLES * PALETTE_WIDTH).reshape(NUM_ROLES, PALETTE_WIDTH, 3)
    table = np.where(wild[:, None, None], random_table, table)
    colours = _part_colours(cv, table, rng.uniform(1.0, 2.0), np.zeros((NUM_ROLES, 3), np.float32))
    role_kinds = rng.integers(0, NUM_TEXTURES, size=NUM_ROLES)
    role_amps = rng.uniform(0.0, 0.4, size=NUM_ROLES).astype(np.float32)
    roles = np.asarray(cv.roles)
    keep = rng.random(NUM_ROLES) < GEN_KEEP_TEXTURE  # some roles keep their own texture
    fixed_kinds, fixed_amps = _fixed_textures(cv, rng.uniform(0.5, 1.5))
    kinds = np.where(keep[roles], fixed_kinds, role_kinds[roles])
    amps = np.where(keep[roles], fixed_amps, role_amps[roles])
    a, b = rng.choice(len(_SKIES), size=2)
    m = rng.random()
    zenith = (1 - m) * np.array(_SKIES[a][0], np.float32) + m * np.array(_SKIES[b][0], np.float32)
    horizon = (1 - m) * np.array(_SKIES[a][1], np.float32) + m * np.array(_SKIES[b][1], np.float32)
    return Style(
        colours=colours, kinds=kinds, amps=amps, zenith=zenith + rng.normal(0, 15, 3),
        horizon=horizon + rng.normal(0, 15, 3), clouds=rng.uniform(0.0, 1.0),
        gain=(rng.uniform(0.7, 1.25) * (1 + rng.normal(0, 0.08, 3))).astype(np.float32),
        blur=int(rng.integers(0, 2)), noise=rng.uniform(0.0, 6.0),
    )


# --------------------------------------------------------------------------- rendering
def _blur3(img: np.ndarray, passes: int = 1) -> np.ndarray:
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


def shade(cv: Canvas, part: np.ndarray, cam: Camera, style: Style, rng: np.random.Generator) -> np.ndarray:
    """Render [H,W,3] float32 (0–255) from a part map: colour × (1 + amp·texture), sky
    gradient with clouds, low-frequency lighting, global gain. No noise/blur yet."""
    h, w = part.shape
    textures = random_crop(slice(None), rng, h, w)  # [K,H,W]
    kind = style.kinds.astype(np.intp)[part]
    tex = np.take_along_axis(textures, kind[None], 0)[0]
    light = 1.0 + 0.1 * random_crop(TEX_BLOTCH, rng, h, w)
    mod = (1.0 + style.amps.astype(np.float32)[part] * tex) * light
    img = style.colours.astype(np.float32)[part] * mod[..., None]
    sky = part == 0
    if sky.any():
        rows = np.nonzero(sky.any(axis=1))[0]
        r0, r1 = int(rows[0]), int(rows[-1]) + 1
        frac = (np.clip(cv.yc[r0:r1] / max(cam.horizon, 1.0), 0, 1) ** 0.8)[:, None, None]
        grad = (1 - frac) * style.zenith.astype(np.float32) + frac * style.horizon.astype(np.float32)
        cloud = np.clip(random_crop(TEX_BLOTCH, rng, r1 - r0, w) * 0.8 - 0.3, 0, 1)[..., None] * np.float32(style.clouds)
        sky_img = grad * (1 - cloud) + 235.0 * cloud
        band = img[r0:r1]
        band[sky[r0:r1]] = sky_img[sky[r0:r1]]
    img *= style.gain.astype(np.float32)
    return img


def finish(img: np.ndarray, blur: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Blur, add Gaussian sensor noise (σ in 0–255 units), clip to uint8 [H,W,3]."""
    img = _blur3(img.astype(np.float32, copy=False), blur)
    if noise > 0:
        img = img + np.float32(noise) * rng.standard_normal(size=img.shape[:2], dtype=np.float32)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- weather
def _role_mask(cv: Canvas, part: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    lut = np.isin(np.asarray(cv.roles), [_R[n] for n in names])
    return lut[part]


def _class_mask(cv: Canvas, part: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    return np.isin(np.asarray(cv.classes), classes)[part]


def apply_fog(img: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Haze: I·t + A·(1−t), t = exp(−3·depth/visibility), visibility 60–150 m."""
    visibility = rng.uniform(60.0, 150.0)
    t = np.exp(-3.0 * depth / visibility)[..., None]
    airlight = rng.uniform(185, 230) + np.array([0.0, 3.0, 8.0])
    return img * t + airlight * (1 - t)


def apply_night(img: np.ndarray, cv: Canvas, part: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark blue-tinted ambient, emissive lights with glow, lit windows, dark sky
    brightening toward the horizon (city glow)."""
    ambient = rng.uniform(0.22, 0.38) * np.array([0.75, 0.85, 1.15])
    out = img * ambient
    sky = part == 0
    h, w = part.shape
    frac = np.linspace(0.0, 1.0, h)[:, None, None] ** 2
    glow_sky = (1 - frac) * np.array([8.0, 10.0, 26.0]) + frac * np.array([50.0, 42.0, 60.0]) * rng.uniform(0.6, 1.2)
    out = np.where(sky[..., None], glow_sky, out)
    emission = np.zeros((len(cv.roles), 3), np.float32)
    for i, r in enumerate(cv.roles):
        if _ROLE_LIST[r].emission is not None:
            emission[i] = _ROLE_LIST[r].emission
    light = emission[part]
    windows = _role_mask(cv, part, ("window",))
    lit = random_crop(TEX_FINE, rng, h, w) > rng.uniform(0.3, 1.0)
    scale = np.where(windows, np.float32(0.6), np.float32(1.0)) * ~(windows & ~lit)
    light = light * scale[..., None]  # [H,W,3]
    glow = box_blur(light, max(2, w // 96)) * 1.5 + coarse_blur(light, max(4, w // 24)) * 2.5
    out = out + light * 0.9 + glow
    out = 255.0 * (np.clip(out, 0, None) / 255.0) ** 0.8
    return out


def apply_rain(img: np.ndarray, cv: Canvas, part: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darker, desaturated, wet-road reflections, rain streaks."""
    grey = img.mean(axis=2, keepdims=True)
    out = (0.55 * img + 0.45 * grey) * rng.uniform(0.55, 0.75)
    sky = part == 0
    out[sky] = 0.5 * out[sky] + 0.5 * rng.uniform(110, 150)
    # reflections: ground pixels mix with an exponentially smeared copy of the rows above
    ground = _class_mask(cv, part, (ROAD, SIDEWALK))
    smear = np.empty_like(out)
    acc = out[0].copy()
    decay = rng.uniform(0.75, 0.9)
    for i in range(out.shape[0]):
        smear[i] = acc
        acc = decay * acc + (1 - decay) * out[i]
    out = np.where(ground[..., None], 0.6 * out + 0.5 * smear, out)
    # streaks: sparse drops smeared along a slanted direction
    h, w = part.shape
    drops = (rng.random((h, w)) < rng.uniform(0.004, 0.012)).astype(np.float32)
    slope = rng.uniform(-0.3, 0.3)
    length = max(4, int(h * rng.uniform(0.05, 0.1)))
    streak = np.zeros_like(drops)
    for k in range(length):
        streak += np.roll(np.roll(drops, k, axis=0), int(round(k * slope)), axis=1)
    out = out + rng.uniform(40, 80) * np.clip(streak, 0, 1)[..., None]
    return out


def apply_snow(img: np.ndarray, cv: Canvas, part: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bright, low contrast, snow-covered ground and vegetation, falling flakes."""
    h, w = part.shape
    white = np.array([235.0, 238.0, 245.0])
    out = 0.8 * img + 0.2 * 200.0
    cover = random_crop(TEX_BLOTCH, rng, h, w)
    ground = _class_mask(cv, part, (SIDEWALK, TERRAIN))
    road = _class_mask(cv, part, (ROAD,))
    veg = _class_mask(cv, part, (VEGETATION,))
    amount = np.zeros((h, w), np.float32)
    amount[ground] = np.clip(rng.uniform(0.3, 0.7) + 0.3 * cover[ground], 0, 1)
    amount[road] = np.clip(rng.uniform(0.05, 0.35) + 0.4 * cover[road], 0, 1)
    speck = random_crop(TEX_LEAFY, rng, h, w)
    amount[veg] = np.clip(0.25 + 0.5 * speck[veg], 0, 1)
    out = out * (1 - amount[..., None]) + white * amount[..., None]
    sky = part == 0
    out[sky] = 0.3 * out[sky] + 0.7 * rng.uniform(190, 225)
    flakes = rng.random((h, w)) < rng.uniform(0.003, 0.01)
    flakes = _blur3(flakes[..., None].astype(np.float32), 1)[..., 0] * 4.0
    return out * 0.9 + np.clip(flakes, 0, 1)[..., None] * 200.0 + 10.0


# --------------------------------------------------------------------------- misalignment
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


# --------------------------------------------------------------------------- public API
@dataclass
class Rendered:
    """One sample: image [H,W,3] uint8, label [H,W] int64, the label the image was
    rendered from (``render_label``; equals ``label`` except for ``generated``) and the
    displacement field [2,H,W] (px)."""

    image: np.ndarray
    label: np.ndarray
    render_label: np.ndarray
    displacement: np.ndarray


def _check_args(domain: str, height: int, width: int, misalignment_px: float) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"synthdrive: unknown domain {domain!r}; choose one of {DOMAINS}")
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"synthdrive: height and width must be positive, got {height}×{width}")
    if not misalignment_px >= 0:  # also rejects NaN
        raise ValueError(f"synthdrive: misalignment_px must be ≥ 0, got {misalignment_px}")


def render_details(seed: int, domain: str, index: int, height: int = 128, width: int = 256,
                   misalignment_px: float = 4.0) -> Rendered:
    """Render sample ``index`` of (seed, domain) with its rendering label and displacement."""
    _check_args(domain, height, width, misalignment_px)
    geo, sty, warp, wx = _streams(seed, domain, index)
    scene = build_scene(geo, int(height), int(width))
    cv, cam = scene.canvas, scene.camera
    label = cv.class_map()
    part, depth = cv.part, cv.depth
    disp = np.zeros((2, cv.h, cv.w), np.float32)
    if domain == "generated":
        disp = misalignment_field(label, float(misalignment_px), warp)
        if misalignment_px > 0:
            part, depth = warp_nearest(part, disp), warp_nearest(depth, disp)
        style = generated_style(cv, sty)
    elif domain == "source":
        style = source_style(cv, sty)
    else:
        style = clear_style(cv, sty)
    img = shade(cv, part, cam, style, sty)
    blur, noise = style.blur, style.noise
    if domain == "fog":
        img = apply_fog(img, depth, wx)
    elif domain == "night":
        img, noise = apply_night(img, cv, part, wx), wx.uniform(3.0, 6.0)
    elif domain == "rain":
        img, blur = apply_rain(img, cv, part, wx), 1
    elif domain == "snow":
        img = apply_snow(img, cv, part, wx)
    image = finish(img, blur, noise, sty)
    return Rendered(image, label, cv.class_map(part), disp)


def render_scene(seed: int, domain: str, index: int, height: int = 128, width: int = 256,
                 misalignment_px: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``index`` of (seed, domain): image [H,W,3] uint8 and label [H,W] int64
    (train ids; 255 never occurs). ``misalignment_px`` only affects ``generated``."""
    r = render_details(seed, domain, index, height, width, misalignment_px)
    return r.image, r.label


class SynthDrive(Dataset):
    """The embedded benchmark as a map-style dataset of ``num_images`` samples.

    Samples are dicts ``{"image": uint8 [3,H,W], "label": int64 [H,W], "index": i,
    "path": "synthdrive://{domain}/{seed}/{i}", "domain": domain}``. With ``cache`` the
    rendered arrays are kept in memory (≈ 4·H·W bytes per sample).
    """

    DOMAINS = DOMAINS

    def __init__(self, domain: str, num_images: int = 1000, height: int = 128, width: int = 256,
                 seed: int = 0, misalignment_px: float = 4.0, cache: bool = True) -> None:
        _check_args(domain, height, width, misalignment_px)
        if int(num_images) < 1:
            raise ValueError(f"synthdrive: num_images must be ≥ 1, got {num_images}")
        self.domain, self.num_images = domain, int(num_images)
        self.height, self.width, self.seed = int(height), int(width), int(seed)
        self.misalignment_px = float(misalignment_px)
        self.cache = cache
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.num_images

    def arrays(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image [H,W,3] uint8 and label [H,W] uint8 of sample ``i`` (cached)."""
        if i in self._cache:
            return self._cache[i]
        image, label = render_scene(self.seed, self.domain, i, self.height, self.width, self.misalignment_px)
        out = (image, label.astype(np.uint8))
        if self.cache:
            self._cache[i] = out
        return out

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if i < 0:
            i += self.num_images
        if not 0 <= i < self.num_images:
            raise IndexError(f"synthdrive index {i} out of range for {self.num_images} images")
        image, label = self.arrays(i)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "label": torch.from_numpy(label.astype(np.int64)),
            "index": i,
            "path": f"synthdrive://{self.domain}/{self.seed}/{i}",
            "domain": self.domain,
        }


class RandomFlip:
    """Horizontal flip of ``image`` [3,H,W] and ``label`` [H,W] with probability ``p``
    (draws from the ``generator`` the datamodule passes, for reproducible augmentation)."""

    accepts_generator = True

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        if torch.rand((), generator=generator).item() < self.p:
            sample = dict(sample)
            sample["image"] = sample["image"].flip(-1)
            sample["label"] = sample["label"].flip(-1)
        return sample


# --------------------------------------------------------------------------- preview
def edge_overlay(image: np.ndarray, label: np.ndarray, colour: Rgb = (255, 255, 0)) -> np.ndarray:
    """Image [H,W,3] uint8 with the label's boundaries painted in ``colour``."""
    out = image.copy()
    edges = label_boundary(label)
    out[edges] = colour
    return out


def preview_grid(num: int = 4, seed: int = 0, misalignment_px: float = 4.0, height: int = 128,
                 width: int = 256) -> np.ndarray:
    """[rows·(H+g), cols·(W+g), 3] uint8: one row per domain; per sample the image, the
    colorized label and the label edges drawn over the image."""
    gap = 4
    tiles = []
    for domain in DOMAINS:
        row = []
        for i in range(num):
            image, label = render_scene(seed, domain, i, height, width, misalignment_px)
            row += [image, colorize(label), edge_overlay(image, label)]
        tiles.append(row)
    cols = 3 * num
    grid = np.full((len(DOMAINS) * (height + gap), cols * (width + gap), 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            y, x = r * (height + gap), c * (width + gap)
            grid[y:y + height, x:x + width] = tile
    return grid


def write_preview(path: str, num: int = 4, seed: int = 0, misalignment_px: float = 4.0, height: int = 128,
                  width: int = 256) -> None:
    """Write the preview grid as a PNG with the domain names at the left."""
    from PIL import Image, ImageDraw

    grid = preview_grid(num, seed, misalignment_px, height, width)
    margin = 80
    canvas = Image.new("RGB", (grid.shape[1] + margin, grid.shape[0]), "white")
    canvas.paste(Image.fromarray(grid), (margin, 0))
    draw = ImageDraw.Draw(canvas)
    for r, domain in enumerate(DOMAINS):
        draw.text((6, r * (height + 4) + height // 2 - 6), domain, fill=(0, 0, 0))
    canvas.save(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flexseg.data.synthdrive", description=__doc__.split("\n")[0])
    parser.add_argument("--preview", required=True, help="output PNG path")
    parser.add_argument("--num", type=int, default=4, help="samples per domain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--misalignment", type=float, default=4.0, help="generated-domain misalignment (px)")
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=256)
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error("--num must be ≥ 1")
    try:
        write_preview(args.preview, args.num, args.seed, args.misalignment, args.height, args.width)
    except ValueError as err:
        parser.error(str(err))
    print(f"wrote {args.preview}")


if __name__ == "__main__":
    main()
