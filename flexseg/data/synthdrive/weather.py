"""Weather of the target domains, applied to the shaded float image of the ``clear`` style.

``fog``: haze by depth; ``night``: dark ambient, emissive lights with glow, lit windows;
``rain``: darker, desaturated, wet-road reflections, streaks; ``snow``: bright, snow on
the ground and vegetation, flakes. Each draws from the weather generator only.
``render.render_details`` then finishes the image (blur, noise; night adds its own noise
level, rain one blur pass).

Every ``apply_<weather>(img, cv, part, rng)`` takes the shaded float RGB image ``img``
(0–255, :math:`(H, W, 3)`), the canvas ``cv`` (the roles and classes of its parts), the
part map ``part`` (:math:`(H, W)`) that ``img`` was rendered from and the weather
generator ``rng``, and returns the weathered float image (:math:`(H, W, 3)`);
``apply_fog(img, depth, rng)`` reads the depth map (:math:`(H, W)`, m; the sky at
``canvas.SKY_DEPTH``) instead of the canvas. The examples shade one small ``clear``
scene first (:func:`_clear_example`).
"""
from __future__ import annotations

import numpy as np

from flexseg.data.synthdrive.blur import blur3, box_blur, coarse_blur
from flexseg.data.synthdrive.canvas import Canvas
from flexseg.data.synthdrive.classes import ROAD, SIDEWALK, TERRAIN, VEGETATION
from flexseg.data.synthdrive.palette import ROLE_LIST, ROLES
from flexseg.data.synthdrive.textures import TEX_BLOTCH, TEX_FINE, TEX_LEAFY, random_crop

__all__ = ["apply_fog", "apply_night", "apply_rain", "apply_snow"]


def _clear_example(h: int = 32, w: int = 64) -> tuple[np.ndarray, Canvas]:
    """The shaded ``clear`` image of a small random scene and its canvas (for the examples)."""
    from flexseg.data.synthdrive.scene import build_scene
    from flexseg.data.synthdrive.shading import shade
    from flexseg.data.synthdrive.styles import clear_style

    scene = build_scene(np.random.default_rng(0), h, w)
    cv = scene.canvas
    return shade(cv, cv.part, scene.camera, clear_style(cv, np.random.default_rng(1)), np.random.default_rng(2)), cv

def _role_mask(cv: Canvas, part: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    lut = np.isin(np.asarray(cv.roles), [ROLES[n] for n in names])
    return lut[part]


def _class_mask(cv: Canvas, part: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    return np.isin(np.asarray(cv.classes), classes)[part]


def apply_fog(img: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Haze: I·t + A·(1−t), t = exp(−3·depth/visibility), visibility 60–150 m, airlight A
    of brightness 185–230, slightly blue.

    Arguments and shapes: the module docstring.

    Example:
        >>> img, cv = _clear_example(32, 64)
        >>> fog = apply_fog(img, cv.depth, np.random.default_rng(0))
        >>> sky = cv.part == 0
        >>> fog.shape, bool(fog[sky].std(axis=0).max() < 1e-3)  # at 1000 m only the airlight is left
        ((32, 64, 3), True)
    """
    visibility = rng.uniform(60.0, 150.0)
    t = np.exp(-3.0 * depth / visibility)[..., None]
    airlight = rng.uniform(185, 230) + np.array([0.0, 3.0, 8.0])
    return img * t + airlight * (1 - t)


def apply_night(img: np.ndarray, cv: Canvas, part: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Night: dark blue-tinted ambient, emissive lights (head/tail lights, traffic lights,
    street lamps, bus signs) with glow, some windows lit, a dark sky brightening toward
    the horizon (city glow), a gamma of 0.8.

    Arguments and shapes: the module docstring; ``cv`` gives the roles of the parts (emission, windows).

    Example:
        >>> img, cv = _clear_example(32, 64)
        >>> night = apply_night(img, cv, cv.part, np.random.default_rng(0))
        >>> night.shape, bool(night.mean() < 0.7 * img.mean())
        ((32, 64, 3), True)
    """
    ambient = rng.uniform(0.22, 0.38) * np.array([0.75, 0.85, 1.15])
    out = img * ambient
    sky = part == 0
    h, w = part.shape
    frac = np.linspace(0.0, 1.0, h)[:, None, None] ** 2
    glow_sky = (1 - frac) * np.array([8.0, 10.0, 26.0]) + frac * np.array([50.0, 42.0, 60.0]) * rng.uniform(0.6, 1.2)
    out = np.where(sky[..., None], glow_sky, out)
    emission = np.zeros((len(cv.roles), 3), np.float32)
    for i, r in enumerate(cv.roles):
        if ROLE_LIST[r].emission is not None:
            emission[i] = ROLE_LIST[r].emission
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
    """Rain: darker and desaturated, a grey sky, wet-road reflections (ground pixels mix
    with an exponentially smeared copy of the rows above), slanted rain streaks.

    Arguments and shapes: the module docstring; ``cv`` gives the classes of the parts (road and sidewalk reflect).

    Example:
        >>> img, cv = _clear_example(32, 64)
        >>> rain = apply_rain(img, cv, cv.part, np.random.default_rng(0))
        >>> rain.shape, bool(rain.mean() < img.mean())
        ((32, 64, 3), True)
    """
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
    """Snow: bright and low contrast, snow cover on sidewalks, terrain, (less) on the road
    and (speckled) on vegetation, a pale sky, falling flakes.

    Arguments and shapes: the module docstring; ``cv`` gives the classes of the parts (where snow lies).

    Example:
        >>> img, cv = _clear_example(32, 64)
        >>> snow = apply_snow(img, cv, cv.part, np.random.default_rng(0))
        >>> snow.shape, bool(snow.mean() > img.mean() + 20)
        ((32, 64, 3), True)
    """
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
    flakes = blur3(flakes[..., None].astype(np.float32), 1)[..., 0] * 4.0
    return out * 0.9 + np.clip(flakes, 0, 1)[..., None] * 200.0 + 10.0
