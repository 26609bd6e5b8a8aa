"""Test-time helpers shared by the networks: mmseg's sliding-window inference and the
padding of inputs to sizes the encoder accepts. Sizes are (height, width) in pixels."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["as_pair", "pad_to_min_size", "pad_to_multiple", "slide_boxes", "slide_inference"]


def as_pair(value: int | Sequence[int] | None) -> tuple[int, int] | None:
    """A size as ``(height, width)``.

    Args:
        value: ``512``, ``(512, 256)`` / ``[512, 256]``, or ``None``.

    Returns:
        ``(h, w)`` as ints; ``None`` stays ``None``.

    Example:
        >>> as_pair(512), as_pair([64, 128]), as_pair(None)
        ((512, 512), (64, 128), None)
    """
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    h, w = (int(v) for v in value)
    return (h, w)


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad at the bottom/right up to multiples of ``multiple``.

    Args:
        images: the batch.
        multiple: the padded height and width are multiples of this.

    Returns:
        ``(padded, (H, W))``: the padded batch and the original size (to crop back).

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, \\lceil H/m \\rceil m, \\lceil W/m \\rceil m)`

    Example:
        >>> padded, size = pad_to_multiple(torch.ones(1, 3, 50, 64), 32)
        >>> padded.shape, size, float(padded[..., 50:, :].abs().sum())
        (torch.Size([1, 3, 64, 64]), (50, 64), 0.0)
    """
    h, w = images.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        images = F.pad(images, (0, pw, 0, ph))
    return images, (h, w)


def pad_to_min_size(images: torch.Tensor, min_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad at the bottom/right so that height and width are at least ``min_size``.

    Args:
        images: the batch.
        min_size: smallest height and width of the result.

    Returns:
        ``(padded, (H, W))``: the padded batch and the original size (to crop back).

    Shape:
        - Input: :math:`(B, C, H, W)`
        - Output: :math:`(B, C, \\max(H, m), \\max(W, m))`

    Example:
        >>> padded, size = pad_to_min_size(torch.ones(1, 3, 20, 40), 32)
        >>> padded.shape, size
        (torch.Size([1, 3, 32, 40]), (20, 40))
    """
    h, w = images.shape[-2:]
    ph, pw = max(min_size - h, 0), max(min_size - w, 0)
    if ph or pw:
        images = F.pad(images, (0, pw, 0, ph))
    return images, (h, w)


def slide_boxes(h: int, w: int, window: tuple[int, int], stride: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """mmseg's sliding-window grid over an h×w image.

    Windows larger than the image are clipped to it; the last row/column is shifted
    back so that every window lies inside the image.

    Args:
        h, w: image size.
        window: window (height, width).
        stride: stride (height, width).

    Returns:
        Boxes ``(y0, x0, y1, x1)`` row by row.

    Raises:
        ValueError: a non-positive window or stride.

    Example:
        >>> slide_boxes(6, 10, (4, 4), (4, 4))  # last column and row shifted back inside
        [(0, 0, 4, 4), (0, 4, 4, 8), (0, 6, 4, 10), (2, 0, 6, 4), (2, 4, 6, 8), (2, 6, 6, 10)]
        >>> slide_boxes(3, 5, (8, 8), (4, 4))  # one window, clipped to the image
        [(0, 0, 3, 5)]
    """
    (wh, ww), (sh, sw) = window, stride
    if min(wh, ww, sh, sw) <= 0:
        raise ValueError(f"slide window {window} and stride {stride} must be positive")
    rows = max(h - wh + sh - 1, 0) // sh + 1
    cols = max(w - ww + sw - 1, 0) // sw + 1
    boxes = []
    for r in range(rows):
        for c in range(cols):
            y1, x1 = min(r * sh + wh, h), min(c * sw + ww, w)
            boxes.append((max(y1 - wh, 0), max(x1 - ww, 0), y1, x1))
    return boxes


def slide_inference(
    predict: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    window: tuple[int, int],
    stride: tuple[int, int],
    num_classes: int,
) -> torch.Tensor:
    """Sliding-window inference (mmseg's ``slide`` mode).

    ``predict`` is applied to every window of :func:`slide_boxes`; its logits are summed
    in float32 and divided by the number of windows covering each pixel.

    Args:
        predict: window images :math:`(B, 3, h, w)` → logits :math:`(B, K, h, w)`.
        images: the batch.
        window: window (height, width) in pixels.
        stride: stride (height, width) in pixels.
        num_classes: K.

    Returns:
        The averaged logits (float32).

    Shape:
        - Input: :math:`(B, 3, H, W)`
        - Output: :math:`(B, K, H, W)`

    Example:
        >>> x = torch.randn(1, 3, 10, 14)
        >>> out = slide_inference(lambda w: w[:, :2] * 2, x, (8, 8), (4, 4), num_classes=2)
        >>> out.shape, torch.allclose(out, x[:, :2] * 2)  # a per-pixel predictor is reproduced
        (torch.Size([1, 2, 10, 14]), True)
    """
    b, _, h, w = images.shape
    out = images.new_zeros((b, num_classes, h, w), dtype=torch.float32)
    count = images.new_zeros((1, 1, h, w), dtype=torch.float32)
    for y0, x0, y1, x1 in slide_boxes(h, w, window, stride):
        out[:, :, y0:y1, x0:x1] += predict(images[:, :, y0:y1, x0:x1]).float()
        count[:, :, y0:y1, x0:x1] += 1
    return out / count
