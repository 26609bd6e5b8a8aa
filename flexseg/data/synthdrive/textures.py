"""The texture bank: fixed periodic noise fields that modulate part colours.

A part's colour is multiplied by ``1 + amp·texture`` (``shading.shade``), with the texture
a crop of one of ``NUM_TEXTURES`` kinds at a random offset: flat (no texture), fine
grain, leafy, blotchy, horizontal streaks, vertical streaks. The bank is computed once per
process from a fixed seed, so it is identical everywhere.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "NUM_TEXTURES", "TEX_BLOTCH", "TEX_FINE", "TEX_FLAT", "TEX_HSTREAK", "TEX_LEAFY", "TEX_VSTREAK",
    "random_crop", "texture_bank",
]

#: Texture kinds: indices into the bank.
TEX_FLAT, TEX_FINE, TEX_LEAFY, TEX_BLOTCH, TEX_HSTREAK, TEX_VSTREAK = range(6)
NUM_TEXTURES = 6
_BANK_SHAPE = (256, 512)  # (rows, columns) of every field


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
    """The bank of periodic noise fields, zero mean and unit std (clipped at ±2.5).

    Kinds (``TEX_*``): flat (all zeros), fine grain (Gaussian low-pass σ 0.6 px), leafy
    (band-pass, saturated by tanh), blotchy (σ 10 px), horizontal streaks (σ 0.8×8 px)
    and vertical streaks (σ 8×0.8 px) of white noise. Fixed seed, cached: identical in
    every process and computed once.

    Returns:
        The bank, float32 (read-only by convention: it is shared).

    Shape:
        - Output: :math:`(K, 256, 512)`, ``K = NUM_TEXTURES``.

    Example:
        >>> bank = texture_bank()
        >>> bank.shape, bank.dtype.name
        ((6, 256, 512), 'float32')
        >>> bool((bank[TEX_FLAT] == 0).all()), round(float(bank[TEX_FINE].std()), 2)
        (True, 0.99)
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
    """A crop of texture ``kind`` (or of a slice of kinds) at a random offset.

    Draws the row offset, then the column offset, from ``rng``. A crop that fits in the
    bank does not wrap; a larger one wraps around the periodic fields.

    Args:
        kind: a texture kind (``TEX_*``) or a slice of kinds (``slice(None)``: all).
        rng: the generator to draw the offsets from.
        h: crop height, px.
        w: crop width, px.

    Returns:
        The crop, float32 (a view of the bank when it does not wrap).

    Shape:
        - Output: :math:`(h, w)` for an int ``kind``, :math:`(k, h, w)` for a slice of ``k`` kinds.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> random_crop(TEX_FINE, rng, 4, 6).shape, random_crop(slice(None), rng, 300, 600).shape
        ((4, 6), (6, 300, 600))
    """
    bh, bw = _BANK_SHAPE
    oy = int(rng.integers(0, bh - h + 1)) if h <= bh else int(rng.integers(0, bh))
    ox = int(rng.integers(0, bw - w + 1)) if w <= bw else int(rng.integers(0, bw))
    return _bank_crop(kind, oy, ox, h, w)
