"""Styles: how the parts of a scene look in each domain (colours, textures, sky, light).

A ``Style`` assigns every part a colour, a texture kind and amplitude, and the image a
sky gradient, cloudiness, a global gain, blur and sensor noise; ``shading`` renders it.
``source`` uses the saturated source palette, the targets the muted clear palette
(weather is added afterwards, ``weather``), and ``generated`` a random restyling per
image, like a diffusion model repainting a GTA mask. Each style function
``<domain>_style(cv, rng)`` reads the painted canvas ``cv`` (its parts' roles, tints,
shades), draws from the style generator ``rng`` only, and returns the :class:`Style` of
every part of ``cv``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexseg.data.synthdrive.canvas import Canvas
from flexseg.data.synthdrive.palette import NUM_ROLES, PALETTE_WIDTH, ROLE_LIST, Rgb, palette_sizes, palette_table
from flexseg.data.synthdrive.textures import NUM_TEXTURES

__all__ = ["GEN_KEEP_TEXTURE", "GEN_WILD", "Style", "clear_style", "generated_style", "source_style"]

#: Upper bound of the per-image share of roles the ``generated`` style paints in
#: fully random colours.
GEN_WILD = 0.1
#: Probability that the ``generated`` style keeps a role's own texture kind.
GEN_KEEP_TEXTURE = 0.75


@dataclass
class Style:
    """Per-part appearance: colours [P,3] (0–255), texture kind [P], amplitude [P];
    sky zenith/horizon colours [3], cloudiness in [0,1], global gain [3], blur passes
    (``blur.blur3``), sensor noise σ (0–255 units). P = number of parts of the canvas."""

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
    sizes = palette_sizes()[roles]
    pick = np.minimum((tints[:, 0] * sizes).astype(int), sizes - 1)
    base = table[roles, pick]
    jit = np.array([ROLE_LIST[r].jitter for r in roles], np.float32)[:, None]
    colours = base + role_offset[roles] + jitter_scale * jit * (2 * tints[:, 1:4] - 1)
    return colours * np.asarray(cv.shades, np.float32)[:, None]


def _fixed_textures(cv: Canvas, amp_scale: float) -> tuple[np.ndarray, np.ndarray]:
    roles = cv.roles
    kinds = np.array([ROLE_LIST[r].texture for r in roles], np.int64)
    amps = np.array([ROLE_LIST[r].amp for r in roles], np.float32) * amp_scale
    return kinds, amps


def source_style(cv: Canvas, rng: np.random.Generator) -> Style:
    """The ``source`` style (GTA-like): the fixed saturated palette with a small per-image
    jitter per role, the roles' own textures, a blue sky, no blur.

    Example:
        >>> from flexseg.data.synthdrive.scene import build_scene
        >>> cv = build_scene(np.random.default_rng(0), 32, 64).canvas
        >>> style = source_style(cv, np.random.default_rng(0))
        >>> style.colours.shape == (len(cv.roles), 3), style.kinds.shape == (len(cv.roles),), style.blur
        (True, True, 0)
    """
    offset = rng.normal(0, 6, size=(NUM_ROLES, 3)).astype(np.float32)
    kinds, amps = _fixed_textures(cv, rng.uniform(0.8, 1.2))
    return Style(
        colours=_part_colours(cv, palette_table("source"), 1.0, offset), kinds=kinds, amps=amps,
        zenith=np.array([40, 110, 230], np.float32) + rng.normal(0, 8, 3),
        horizon=np.array([170, 210, 245], np.float32) + rng.normal(0, 8, 3),
        clouds=rng.uniform(0.0, 0.6), gain=np.full(3, rng.uniform(0.9, 1.1), np.float32) + rng.normal(0, 0.02, 3),
        blur=0, noise=rng.uniform(1.0, 3.0),
    )


def clear_style(cv: Canvas, rng: np.random.Generator) -> Style:
    """The style of the target domains (Cityscapes-like): the muted clear palette, weaker
    textures, a paler sky, slightly warm or cool light, one blur pass.

    Example:
        >>> from flexseg.data.synthdrive.scene import build_scene
        >>> cv = build_scene(np.random.default_rng(0), 32, 64).canvas
        >>> style = clear_style(cv, np.random.default_rng(0))
        >>> style.colours.shape == (len(cv.roles), 3), style.blur
        (True, 1)
    """
    offset = rng.normal(0, 5, size=(NUM_ROLES, 3)).astype(np.float32)
    kinds, amps = _fixed_textures(cv, rng.uniform(0.6, 1.0))
    warm = rng.uniform(-0.06, 0.06)
    return Style(
        colours=_part_colours(cv, palette_table("clear"), 1.0, offset), kinds=kinds, amps=amps,
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
    random colours, random texture kinds/amplitudes, random sky, light, blur and noise.

    Example:
        >>> from flexseg.data.synthdrive.scene import build_scene
        >>> cv = build_scene(np.random.default_rng(0), 32, 64).canvas
        >>> a = generated_style(cv, np.random.default_rng(0))
        >>> b = generated_style(cv, np.random.default_rng(1))
        >>> a.colours.shape == (len(cv.roles), 3), bool(np.abs(a.colours - b.colours).mean() > 10)
        (True, True)
    """
    t = rng.uniform(-0.3, 1.3)
    src, clr = palette_table("source"), palette_table("clear")
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
