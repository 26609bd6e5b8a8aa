"""Shading."""
from __future__ import annotations

import numpy as np

from flexseg.data.synthdrive.blur import blur3
from flexseg.data.synthdrive.camera import Camera
from flexseg.data.synthdrive.canvas import Canvas
from flexseg.data.synthdrive.styles import Style
from flexseg.data.synthdrive.textures import TEX_BLOTCH, random_crop


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
    img = blur3(img.astype(np.float32, copy=False), blur)
    if noise > 0:
        img = img + np.float32(noise) * rng.standard_normal(size=img.shape[:2], dtype=np.float32)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)
