"""Texture bank."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

TEX_FLAT, TEX_FINE, TEX_LEAFY, TEX_BLOTCH, TEX_HSTREAK, TEX_VSTREAK = range(6)
NUM_TEXTURES = 6
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
