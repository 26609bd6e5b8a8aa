"""Boundary bands of a label map at several granularities (thin ⊂ medium ⊂ thick).

Pixel p is in the band of kernel k iff the k×k window centred on p (cut at the image
border) holds at least two different labels other than ``ignore_index``, and p itself
is not ignored — the union over classes of ``Dilate(M_c, k) − Erode(M_c, k)`` on
labelled pixels (docs/design.md §3). Batched window max/min without loops over pixels
or classes; how, and why it is exact: docs/flex.md.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["boundary_bands", "granularity_map", "check_kernel_sizes"]


def check_kernel_sizes(kernel_sizes: Sequence[int]) -> tuple[int, ...]:
    """Validate kernel sizes: a non-empty, strictly increasing sequence of odd ints ≥ 1.

    Args:
        kernel_sizes: one window side per granularity, in label pixels.

    Returns:
        the sizes as a tuple of ints.

    Raises:
        ValueError: empty, not odd positive ints, or not strictly increasing.

    Example:
        >>> check_kernel_sizes([3, 5, 7])
        (3, 5, 7)
        >>> check_kernel_sizes((3, 4))
        Traceback (most recent call last):
        ...
        ValueError: kernel sizes must be odd positive ints, got (3, 4)
    """
    try:
        ks = tuple(int(k) for k in kernel_sizes)
    except TypeError as exc:
        raise ValueError(f"kernel_sizes must be a sequence of odd ints, got {kernel_sizes!r}") from exc
    if len(ks) == 0:
        raise ValueError("kernel_sizes must not be empty")
    for k, raw in zip(ks, kernel_sizes):
        if k != raw or k < 1 or k % 2 == 0:
            raise ValueError(f"kernel sizes must be odd positive ints, got {tuple(kernel_sizes)!r}")
    if any(b <= a for a, b in zip(ks, ks[1:])):
        raise ValueError(f"kernel sizes must be strictly increasing, got {ks!r}")
    return ks


def _check_labels(labels: torch.Tensor) -> None:
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"labels must be an integer tensor (int64), got dtype {labels.dtype}")
    if labels.ndim != 3:
        raise ValueError(f"labels must have shape [B,H,W], got {tuple(labels.shape)}")


def boundary_bands(
    labels: torch.Tensor,
    kernel_sizes: Sequence[int] = (3, 5, 7),
    ignore_index: int = 255,
) -> torch.Tensor:
    """Boundary bands of a batch of label maps, one per kernel size.

    Args:
        labels: integer class ids; ``ignore_index`` pixels are never in a band and never
            count as a label of a window.
        kernel_sizes: odd, strictly increasing window sides (``flex.kernel_sizes``).
        ignore_index: label of ignored pixels.

    Returns:
        ``out[:, g]`` = the band of ``kernel_sizes[g]`` (module docstring); nested, since
        the kernels increase.

    Shape:
        - labels: :math:`(B, H, W)`; output: :math:`(B, G, H, W)` bool, G = ``len(kernel_sizes)``.

    Example:
        >>> labels = torch.tensor([[[0, 0, 0, 1, 1, 1]]])
        >>> boundary_bands(labels, (3, 5)).int()
        tensor([[[[0, 0, 1, 1, 0, 0]],
        <BLANKLINE>
                 [[0, 1, 1, 1, 1, 0]]]], dtype=torch.int32)
    """
    _check_labels(labels)
    ks = check_kernel_sizes(kernel_sizes)
    B, H, W = labels.shape
    valid = labels != ignore_index
    x = labels.to(torch.float32)
    # channel 0: label for the window max, channel 1: −label for the window min (= −max(−x));
    # −inf as a Python scalar: a device tensor built from it would be a host→GPU copy that waits
    windows = torch.stack([torch.where(valid, x, float("-inf")), torch.where(valid, -x, float("-inf"))], dim=1)
    bands = []
    size = 1  # current window size of `windows`
    for k in ks:
        if k > size:
            windows = _grow_window(windows, k - size + 1)
            size = k
        if k == 1:
            bands.append(torch.zeros_like(valid))
            continue
        bands.append((windows[:, 0] > -windows[:, 1]) & valid)
    return torch.stack(bands, dim=1).reshape(B, len(ks), H, W)


def _grow_window(windows: torch.Tensor, d: int) -> torch.Tensor:
    """Window max over d×d of ``windows`` [B,C,H,W], cut at the border: rows, then columns."""
    return _window_max_1d(_window_max_1d(windows, d, dim=2), d, dim=3)


def _window_max_1d(x: torch.Tensor, d: int, dim: int) -> torch.Tensor:
    """Centred max over d (odd) consecutive entries along ``dim``, −inf beyond the border.

    Pads d//2 entries of −inf on each side, then doubles the window: the max over a
    entries starting at i and the one starting at i+s cover a+s entries (overlap is
    harmless for a max), so log2(d) elementwise maxima of shifted views replace a
    pooling kernel (over 10× faster on a CPU); exact, since max does not round.
    """
    if d == 1:
        return x
    r = d // 2
    pad = [0, 0] * (x.ndim - 1 - dim) + [r, r]
    x = F.pad(x, pad, value=float("-inf"))
    a = 1  # window length of x
    while a < d:
        s = min(a, d - a)
        n = x.shape[dim] - s
        x = torch.maximum(x.narrow(dim, 0, n), x.narrow(dim, s, n))
        a += s
    return x


def granularity_map(
    labels: torch.Tensor,
    kernel_sizes: Sequence[int] = (3, 5, 7),
    ignore_index: int = 255,
) -> torch.Tensor:
    """Granularity of each pixel: the smallest g whose band holds it.

    Args:
        labels, kernel_sizes, ignore_index: as :func:`boundary_bands`.

    Returns:
        int64 map: g of the thinnest band holding the pixel (0 = thin, 1 = medium,
        2 = thick for three kernels); −1 for interior and ignored pixels.

    Shape:
        - labels and output: :math:`(B, H, W)`.

    Example:
        >>> granularity_map(torch.tensor([[[0, 0, 0, 1, 1, 1, 1, 1]]]))
        tensor([[[ 2,  1,  0,  0,  1,  2, -1, -1]]])
    """
    bands = boundary_bands(labels, kernel_sizes, ignore_index)  # [B,G,H,W]
    # the bands are nested (a larger window holds a smaller one), so a pixel lies in bands
    # g..G−1 exactly and its granularity is G − (number of bands holding it)
    inside = bands.sum(dim=1)
    return torch.where(inside > 0, bands.shape[1] - inside, -1)
