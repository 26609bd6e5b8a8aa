"""Shading: render a part map in a style, and finish it with blur and sensor noise.

``shade`` gives each pixel its part's colour × (1 + amp·texture) × low-frequency light,
paints the sky as a zenith→horizon gradient with clouds and applies the global gain;
weather (``weather``) works on this float image; ``finish`` blurs, adds noise and
quantizes to uint8.
"""
from __future__ import annotations

import numpy as np

from flexseg.data.synthdrive.blur import blur3
from flexseg.data.synthdrive.camera import Camera
from flexseg.data.synthdrive.canvas import Canvas
from flexseg.data.synthdrive.styles import Style
from flexseg.data.synthdrive.textures import TEX_BLOTCH, random_crop

__all__ = ["finish", "shade"]

def shade(cv: Canvas, part: np.ndarray, cam: Camera, style: Style, rng: np.random.Generator) -> np.ndarray:
    """Render a part map: colour × (1 + amp·texture), sky gradient with clouds,
    low-frequency lighting, global gain. No noise or blur yet.

    Args:
        cv: the canvas whose parts ``part`` indexes (the sky is part 0).
        part: the part map to render (``cv.part``, or its warped copy for ``generated``).
        cam: the camera (horizon row of the sky gradient).
        style: the style of every part.
        rng: the style generator (texture, light and cloud offsets).

    Returns:
        float32 RGB, nominally 0–255 (not clipped).

    Shape:
        - part: :math:`(H, W)`.
        - Output: :math:`(H, W, 3)`.

    Example:
        >>> from flexseg.data.synthdrive.scene import build_scene
        >>> from flexseg.data.synthdrive.styles import source_style
        >>> scene = build_scene(np.random.default_rng(0), 32, 64); cv = scene.canvas
        >>> img = shade(cv, cv.part, scene.camera, source_style(cv, np.random.default_rng(1)), np.random.default_rng(2))
        >>> img.shape, img.dtype.name, bool(img.min() >= 0)
        ((32, 64, 3), 'float32', True)
    """
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
    """Blur, add Gaussian sensor noise (one draw per pixel, the same on all channels),
    clip to [0, 255] and truncate to uint8.

    Args:
        img: float RGB image (0–255).
        blur: ``blur.blur3`` passes.
        noise: noise σ in 0–255 units (0: no draw from ``rng``).
        rng: the style generator.

    Returns:
        The uint8 image.

    Shape:
        - img: :math:`(H, W, 3)`.
        - Output: :math:`(H, W, 3)`.

    Example:
        >>> finish(np.full((2, 3, 3), 300.0), 0, 0.0, np.random.default_rng(0)).max()
        np.uint8(255)
        >>> out = finish(np.full((2, 3, 3), 100.0), 1, 2.0, np.random.default_rng(0))
        >>> out.dtype.name, bool((out[..., 0] == out[..., 2]).all())
        ('uint8', True)
    """
    img = blur3(img.astype(np.float32, copy=False), blur)
    if noise > 0:
        img = img + np.float32(noise) * rng.standard_normal(size=img.shape[:2], dtype=np.float32)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)
