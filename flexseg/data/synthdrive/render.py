"""Render."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexseg.data.synthdrive.misalignment import misalignment_field, warp_nearest
from flexseg.data.synthdrive.scene import build_scene
from flexseg.data.synthdrive.shading import finish, shade
from flexseg.data.synthdrive.streams import sample_streams
from flexseg.data.synthdrive.styles import clear_style, generated_style, source_style
from flexseg.data.synthdrive.weather import apply_fog, apply_night, apply_rain, apply_snow

DOMAINS: tuple[str, ...] = ("source", "generated", "clear", "fog", "night", "rain", "snow")
TRAIN_DOMAINS: tuple[str, ...] = ("source", "generated")
TARGET_DOMAINS: tuple[str, ...] = ("clear", "fog", "night", "rain", "snow")


@dataclass
class Rendered:
    """One sample: image [H,W,3] uint8, label [H,W] int64, the label the image was
    rendered from (``render_label``; equals ``label`` except for ``generated``) and the
    displacement field [2,H,W] (px)."""

    image: np.ndarray
    label: np.ndarray
    render_label: np.ndarray
    displacement: np.ndarray


def check_args(domain: str, height: int, width: int, misalignment_px: float) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"synthdrive: unknown domain {domain!r}; choose one of {DOMAINS}")
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"synthdrive: height and width must be positive, got {height}×{width}")
    if not misalignment_px >= 0:  # also rejects NaN
        raise ValueError(f"synthdrive: misalignment_px must be ≥ 0, got {misalignment_px}")


def render_details(seed: int, domain: str, index: int, height: int = 128, width: int = 256,
                   misalignment_px: float = 4.0) -> Rendered:
    """Render sample ``index`` of (seed, domain) with its rendering label and displacement."""
    check_args(domain, height, width, misalignment_px)
    geo, sty, warp, wx = sample_streams(seed, domain, index)
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
