"""Where does a segmenter fail? Error rates by distance to the nearest label boundary.

The paper's motivating measurement: errors concentrate at object boundaries, and more so
for the thin ones. Pixels are split into *rings* by :func:`~flexseg.flex.boundaries.granularity_map`:
ring g holds the pixels of band g that are not in band g−1 (thin = the 3×3 band,
medium = 5×5 band minus the thin one, thick = 7×7 band minus the medium one for the
default kernels), and ``interior`` holds every labelled pixel outside the thickest band.
"boundary" is the union of the rings, i.e. the thickest band — the same split as the
boundary/interior accuracy of :class:`~flexseg.metrics.SegmentationMetrics`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from flexseg.flex.boundaries import granularity_map

__all__ = ["RING_NAMES", "ring_names", "region_error_counts", "error_rates"]

RING_NAMES: tuple[str, ...] = ("thin", "medium", "thick")


def ring_names(num_rings: int) -> list[str]:
    """Names of the rings: thin/medium/thick for three kernels, ``ring0…`` otherwise."""
    return list(RING_NAMES) if num_rings == len(RING_NAMES) else [f"ring{g}" for g in range(num_rings)]


def region_error_counts(
    preds: torch.Tensor,
    labels: torch.Tensor,
    kernel_sizes: Sequence[int] = (3, 5, 7),
    ignore_index: int = 255,
) -> torch.Tensor:
    """Errors and pixels per region of ``labels`` [B,H,W] for ``preds`` [B,H,W] (ints).

    Returns a LongTensor [G+1, 2], G = len(kernel_sizes): row g < G is ring g, row G
    is the interior; column 0 counts wrong predictions, column 1 labelled pixels.
    Ignored pixels count nowhere.
    """
    if preds.shape != labels.shape:
        raise ValueError(f"preds {tuple(preds.shape)} must match labels {tuple(labels.shape)}")
    G = len(kernel_sizes)
    gran = granularity_map(labels, kernel_sizes, ignore_index)  # [B,H,W], −1 interior/ignored
    valid = labels != ignore_index
    region = torch.where(gran >= 0, gran, torch.full_like(gran, G))[valid]  # 0..G
    wrong = (preds != labels)[valid].long()
    pixels = torch.bincount(region, minlength=G + 1)
    errors = torch.bincount(region, weights=wrong.to(torch.float64), minlength=G + 1).round().long()
    return torch.stack([errors, pixels], dim=1)


def error_rates(counts: torch.Tensor, names: Sequence[str] | None = None) -> dict[str, float]:
    """Error rates (fraction 0–1, NaN where a region is empty) from ``counts`` [G+1, 2]
    of :func:`region_error_counts`: one entry per ring, ``interior``, ``boundary``
    (all rings together) and ``boundary_to_interior`` (ratio of the two rates)."""
    counts = counts.to(torch.float64)
    G = counts.shape[0] - 1
    names = list(names) if names is not None else ring_names(G)

    def rate(err: float, pix: float) -> float:
        return err / pix if pix > 0 else float("nan")

    out: dict[str, float] = {name: rate(*counts[g].tolist()) for g, name in enumerate(names)}
    out["interior"] = rate(*counts[G].tolist())
    out["boundary"] = rate(float(counts[:G, 0].sum()), float(counts[:G, 1].sum()))
    interior = out["interior"]
    out["boundary_to_interior"] = out["boundary"] / interior if interior and interior == interior else float("nan")
    return out


def pixel_shares(counts: torch.Tensor, names: Sequence[str] | None = None) -> Mapping[str, float]:
    """Fraction of labelled pixels in each ring and in the interior."""
    counts = counts.to(torch.float64)
    G = counts.shape[0] - 1
    names = list(names) if names is not None else ring_names(G)
    total = float(counts[:, 1].sum())
    shares = {name: float(counts[g, 1]) / total if total else float("nan") for g, name in enumerate(names)}
    shares["interior"] = float(counts[G, 1]) / total if total else float("nan")
    return shares
