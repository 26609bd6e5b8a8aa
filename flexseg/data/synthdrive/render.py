"""Render one sample of a domain: the public sample function of synthdrive.

``render_details(seed, domain, index, ...)``: split the sample's four random streams
(``streams``), build the scene (geometry), for ``generated`` warp its part map
(``misalignment``, warp stream), pick the domain's style and shade (style stream), add the
weather of a target domain (weather stream) and finish (blur, noise, uint8); the
physically modelled adverse targets (``adverse``) take the ``clear`` style and their own
physics and camera instead of ``weather``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexseg.data.synthdrive.adverse import ADVERSE_DOMAINS, render_adverse
from flexseg.data.synthdrive.misalignment import misalignment_field, warp_nearest
from flexseg.data.synthdrive.scene import build_scene
from flexseg.data.synthdrive.shading import finish, shade
from flexseg.data.synthdrive.streams import sample_streams
from flexseg.data.synthdrive.styles import clear_style, generated_style, source_style
from flexseg.data.synthdrive.weather import apply_fog, apply_night, apply_rain, apply_snow

__all__ = ["ADVERSE_DOMAINS", "ALL_DOMAINS", "DOMAINS", "TARGET_DOMAINS", "TRAIN_DOMAINS", "Rendered", "check_args",
           "render_details", "render_scene"]

#: Every domain; the training domains; the unseen target domains (evaluation only).
DOMAINS: tuple[str, ...] = ("source", "generated", "clear", "fog", "night", "rain", "snow")
TRAIN_DOMAINS: tuple[str, ...] = ("source", "generated")
TARGET_DOMAINS: tuple[str, ...] = ("clear", "fog", "night", "rain", "snow")
#: ``DOMAINS`` plus the physically modelled adverse targets (``adverse.ADVERSE_DOMAINS``:
#: fog_dense, night_dark, rain_lens, snow_storm), kept out of ``DOMAINS`` so that every
#: former list, preview and digest stays as it was.
ALL_DOMAINS: tuple[str, ...] = DOMAINS + ADVERSE_DOMAINS


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
    """Raise ``ValueError`` (message starting with ``synthdrive:``) for an unknown
    domain, a non-positive size or a negative or NaN misalignment.

    Example:
        >>> check_args("fog", 32, 64, 0.0)
        >>> check_args("dusk", 32, 64, 0.0)
        Traceback (most recent call last):
        ...
        ValueError: synthdrive: unknown domain 'dusk'; choose one of ('source', 'generated', 'clear', 'fog', 'night',
        'rain', 'snow', 'fog_dense', 'night_dark', 'rain_lens', 'snow_storm')
    """
    if domain not in ALL_DOMAINS:
        raise ValueError(f"synthdrive: unknown domain {domain!r}; choose one of {ALL_DOMAINS}")
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"synthdrive: height and width must be positive, got {height}×{width}")
    if not misalignment_px >= 0:  # also rejects NaN
        raise ValueError(f"synthdrive: misalignment_px must be ≥ 0, got {misalignment_px}")


def render_details(seed: int, domain: str, index: int, height: int = 128, width: int = 256,
                   misalignment_px: float = 4.0) -> Rendered:
    """Render sample ``index`` of (seed, domain) with its rendering label and displacement.

    A pure function of its arguments; ``misalignment_px`` only affects ``generated``
    (and there only the warp: the scene and the label do not depend on it).

    Args:
        seed: the dataset seed.
        domain: one of ``ALL_DOMAINS``.
        index: the sample index (any int).
        height: image height, px.
        width: image width, px.
        misalignment_px: peak image↔mask displacement of ``generated``, px (≥ 0).

    Returns:
        ``Rendered``: the image, the label, the label the image was rendered from and the
        displacement (zeros except for ``generated``).

    Shape:
        - image: :math:`(H, W, 3)` uint8.
        - label, render_label: :math:`(H, W)` int64 train ids.
        - displacement: :math:`(2, H, W)` float32 (dy, dx), px.

    Example:
        >>> r = render_details(0, "generated", 0, 32, 64, misalignment_px=4.0)
        >>> r.image.shape, r.label.dtype.name, r.displacement.shape
        ((32, 64, 3), 'int64', (2, 32, 64))
        >>> bool((r.render_label != r.label).any()), round(float(np.sqrt((r.displacement ** 2).sum(0)).max()), 2)
        (True, 4.0)
        >>> aligned = render_details(0, "generated", 0, 32, 64, misalignment_px=0.0)
        >>> bool((aligned.label == r.label).all()), bool((aligned.render_label == aligned.label).all())
        (True, True)
    """
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
    if domain in ADVERSE_DOMAINS:  # clear style + adverse.py's physics (issue 30)
        return Rendered(render_adverse(domain, img, scene, blur, noise, wx, sty), label, cv.class_map(part), disp)
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
    """Sample ``index`` of (seed, domain): the image and its label (``render_details``
    without the rendering label and displacement).

    Args:
        seed: the dataset seed.
        domain: one of ``ALL_DOMAINS``.
        index: the sample index.
        height: image height, px.
        width: image width, px.
        misalignment_px: peak image↔mask displacement of ``generated``, px (≥ 0).

    Returns:
        The uint8 RGB image and the int64 label (train ids; 255 never occurs).

    Shape:
        - image: :math:`(H, W, 3)`.
        - label: :math:`(H, W)`.

    Example:
        >>> image, label = render_scene(0, "fog", 3, 32, 64)
        >>> image.shape, image.dtype.name, label.shape, label.dtype.name
        ((32, 64, 3), 'uint8', (32, 64), 'int64')
        >>> {0, 10} <= set(np.unique(label).tolist()) and 255 not in label  # road and sky in view
        True
        >>> bool((render_scene(0, "fog", 3, 32, 64)[0] == image).all())  # deterministic
        True
    """
    r = render_details(seed, domain, index, height, width, misalignment_px)
    return r.image, r.label
