"""Camera pieces of the physically modelled target domains (``adverse``): linear light,
Gaussian and motion blur, lens glare, a photon-counting sensor and JPEG compression.

The rendered float images of synthdrive are display values (0–255, read as sRGB). Light
adds, scatters and is counted in *linear* radiance, so the physical effects convert with
the sRGB transfer curve (:func:`to_linear`), act there and convert back
(:func:`to_display`). Every function here is deterministic given its arguments (the
random ones take the weather generator and say what they draw).
"""
from __future__ import annotations

import io
import math

import numpy as np
from scipy import ndimage

__all__ = ["SRGB_KNEE", "bloom", "gaussian_blur", "jpeg", "line_kernel", "motion_blur", "photon_sensor", "to_display",
           "to_linear"]

#: The sRGB transfer curve: a linear segment of slope 12.92 below this linear value, then
#: ``1.055·x^(1/2.4) − 0.055`` (IEC 61966-2-1). The linear toe matters at night: a pure
#: power law would amplify the noise of the darkest pixels without bound.
SRGB_KNEE = 0.0031308


def to_linear(img: np.ndarray) -> np.ndarray:
    """Display values (0–255, sRGB-encoded) → linear radiance (0–1 for 0–255; negatives → 0).

    Example:
        >>> [round(v, 4) for v in to_linear(np.array([0.0, 255.0, -3.0, 128.0])).tolist()]
        [0.0, 1.0, 0.0, 0.2159]
    """
    x = np.clip(img, 0.0, None) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def to_display(lin: np.ndarray) -> np.ndarray:
    """Linear radiance → display values (sRGB-encoded, 1.0 → 255; not clipped above).

    Example:
        >>> x = np.array([0.0, 3.0, 40.0, 128.0, 255.0])
        >>> bool(np.allclose(to_display(to_linear(x)), x))
        True
    """
    x = np.clip(lin, 0.0, None)
    return 255.0 * np.where(x <= SRGB_KNEE, 12.92 * x, 1.055 * x ** (1.0 / 2.4) - 0.055)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an [H,W,C] image over H and W (edge-replicated, truncated at 3σ).

    Args:
        img: float image.
        sigma: standard deviation, px (≤ 0: ``img`` is returned).

    Returns:
        The blurred image (same dtype as ``img`` for float input).

    Shape:
        - img: :math:`(H, W, C)`.
        - Output: :math:`(H, W, C)`.

    Example:
        >>> img = np.zeros((9, 9, 1)); img[4, 4] = 1.0
        >>> out = gaussian_blur(img, 1.0)
        >>> round(float(out.sum()), 6), bool(out[4, 4, 0] < 0.2), gaussian_blur(img, 0.0) is img
        (1.0, True, True)
    """
    if sigma <= 0:
        return img
    return ndimage.gaussian_filter(img, (sigma, sigma, 0.0), mode="nearest", truncate=3.0)


def line_kernel(length: float, angle_deg: float, oversample: int = 8) -> np.ndarray:
    """A normalized linear motion-blur kernel: a segment of ``length`` px at ``angle_deg``
    (0 = horizontal, counter-clockwise), anti-aliased by splatting ``oversample`` points per
    px bilinearly; odd square size.

    Example:
        >>> k = line_kernel(4.0, 0.0)
        >>> k.shape, round(float(k.sum()), 6), np.nonzero(k)[0].tolist(), np.nonzero(k)[1].tolist()
        ((7, 7), 1.0, [3, 3, 3, 3, 3], [1, 2, 3, 4, 5])
    """
    r = int(math.ceil(length / 2.0)) + 1
    size = 2 * r + 1
    k = np.zeros((size, size), np.float64)
    n = max(2, int(math.ceil(length * oversample)))
    s = np.linspace(-length / 2.0, length / 2.0, n)
    a = math.radians(angle_deg)
    xs, ys = r + s * math.cos(a), r - s * math.sin(a)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dy, dx, wgt in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (np.clip(y0 + dy, 0, size - 1), np.clip(x0 + dx, 0, size - 1)), wgt)
    return k / k.sum()


def motion_blur(img: np.ndarray, length: float, angle_deg: float) -> np.ndarray:
    """Blur an [H,W,C] image with :func:`line_kernel` (edge-replicated); ``length < 1``: unchanged.

    Example:
        >>> img = np.zeros((7, 7, 1)); img[3, 3] = 1.0
        >>> out = motion_blur(img, 4.0, 90.0)   # vertical
        >>> round(float(out.sum()), 6), bool(out[:, 3].sum() > 0.99)
        (1.0, True)
    """
    if length < 1.0:
        return img
    k = line_kernel(length, angle_deg)
    return np.stack([ndimage.convolve(img[..., c], k, mode="nearest") for c in range(img.shape[2])], axis=-1)


def bloom(lin: np.ndarray, sigmas: tuple[float, ...], fractions: tuple[float, ...]) -> np.ndarray:
    """Lens glare (veiling glare / bloom): a share ``fractions[k]`` of all light is spread by a
    Gaussian of ``sigmas[k]`` px; energy is conserved (the rest stays sharp). Only very bright
    sources (far above white) leave a visible halo, as in a real lens.

    Example:
        >>> img = np.zeros((41, 41, 1)); img[20, 20] = 100.0
        >>> out = bloom(img, (1.0, 4.0), (0.05, 0.05))
        >>> round(float(out.sum()), 4), round(float(out[20, 20, 0]), 1), bool(out[20, 26, 0] > 0.01)
        (100.0, 90.8, True)
    """
    keep = 1.0 - float(sum(fractions))
    out = keep * lin
    for s, f in zip(sigmas, fractions):
        out = out + f * gaussian_blur(lin, s)
    return out


def photon_sensor(lin: np.ndarray, electrons_white: float, read_noise_e: float, adc_bits: int,
                  rng: np.random.Generator) -> np.ndarray:
    """A photon-counting sensor: mean photoelectrons ``lin·electrons_white`` per pixel and
    channel, Poisson (shot) noise, Gaussian read noise of ``read_noise_e`` electrons, the
    gain that maps ``electrons_white`` electrons to full scale, clipping at full scale (and 0)
    and an ``adc_bits`` quantization. Draws one Poisson then one normal array of ``lin``'s shape.

    Args:
        lin: linear radiance at the sensor (1.0 = full scale; above saturates).
        electrons_white: electrons collected at full scale (the analogue gain in use: fewer
            electrons per full scale = higher ISO).
        read_noise_e: read-noise σ, electrons.
        adc_bits: bits of the converter.
        rng: the weather generator.

    Returns:
        Linear values in [0, 1], quantized to ``2**adc_bits − 1`` levels.

    Shape:
        - lin: :math:`(H, W, C)`.
        - Output: :math:`(H, W, C)`.

    Example:
        >>> lin = np.full((64, 64, 3), 0.01)   # 0.01·1000 = 10 electrons on average
        >>> out = photon_sensor(lin, 1000.0, 2.0, 10, np.random.default_rng(0))
        >>> round(float(out.mean()), 3), round(float(out.std() * 1000), 1)   # σ ≈ √(10 + 2²) e⁻, + quantization
        (0.01, 3.8)
    """
    electrons = rng.poisson(np.clip(lin, 0.0, None) * electrons_white).astype(np.float64)
    electrons += read_noise_e * rng.standard_normal(size=lin.shape)
    levels = 2 ** int(adc_bits) - 1
    return np.round(np.clip(electrons / electrons_white, 0.0, 1.0) * levels) / levels


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of a uint8 RGB image with Pillow (baseline, 4:2:0 chroma subsampling).

    Example:
        >>> img = np.zeros((16, 16, 3), np.uint8); img[:, 5:] = 200
        >>> out = jpeg(img, 50)
        >>> out.shape, out.dtype.name, bool(np.abs(out.astype(int) - img).max() > 0)
        ((16, 16, 3), 'uint8', True)
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="JPEG", quality=int(quality), subsampling=2)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB")).copy()
