"""Conditioning and multi-resolution latent fusion helpers (pure torch / numpy / scipy).

- :func:`one_hot_condition`: DGInStyle's 20-channel ControlNet input (train ids 0..18,
  ignore 255 → channel 19), float 0/1, [1,20,H,W].
- :func:`large_components_mask`: pixels of 8-connected same-class components larger than
  ``min_area`` — where the second (×2, windowed) pass keeps the first pass's content.
- :func:`window_views`: MultiDiffusion windows over a latent grid, the last window of each
  axis aligned to the border so that every latent is covered.
"""
from __future__ import annotations

import numpy as np
import torch

from flexseg.data.labels import IGNORE_INDEX, NUM_CLASSES

CONDITION_CHANNELS = NUM_CLASSES + 1  # 19 train ids + ignore


def one_hot_condition(label: np.ndarray | torch.Tensor) -> torch.Tensor:
    """float32 [1,20,H,W] one-hot of an [H,W] train-id label; 255 → channel 19.

    Any other value ≥ 19 is an error (it would silently become 'ignore')."""
    lab = torch.as_tensor(np.asarray(label)).long()
    if lab.dim() != 2:
        raise ValueError(f"label must be [H,W], got shape {tuple(lab.shape)}")
    bad = (lab < 0) | ((lab >= NUM_CLASSES) & (lab != IGNORE_INDEX))
    if bad.any():
        raise ValueError(f"label holds values outside 0..{NUM_CLASSES - 1} and {IGNORE_INDEX}: "
                         f"{sorted(set(lab[bad].tolist()))[:10]}")
    lab = torch.where(lab == IGNORE_INDEX, torch.full_like(lab, NUM_CLASSES), lab)
    return torch.nn.functional.one_hot(lab, CONDITION_CHANNELS).permute(2, 0, 1).unsqueeze(0).float()


def large_components_mask(label: np.ndarray, min_area: int) -> np.ndarray:
    """bool [H,W]: pixels of 8-connected components of one class (not 255) with area > ``min_area``."""
    from scipy import ndimage

    label = np.asarray(label)
    out = np.zeros(label.shape, dtype=bool)
    structure = np.ones((3, 3), dtype=bool)
    for c in np.unique(label):
        if c == IGNORE_INDEX:
            continue
        comps, n = ndimage.label(label == c, structure=structure)
        if n == 0:
            continue
        areas = np.bincount(comps.reshape(-1), minlength=n + 1)
        big = np.flatnonzero(areas > min_area)
        big = big[big > 0]
        if len(big):
            out |= np.isin(comps, big)
    return out


def axis_starts(length: int, window: int, stride: int) -> list[int]:
    """Window starts along one axis: 0, stride, … and a last one ending exactly at ``length``."""
    if window > length:
        raise ValueError(f"window {window} larger than the latent size {length}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def window_views(height: int, width: int, window: int, stride: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) latent windows, row-major, covering the whole [height,width] grid."""
    return [(y, y + window, x, x + window)
            for y in axis_starts(height, window, stride) for x in axis_starts(width, window, stride)]
