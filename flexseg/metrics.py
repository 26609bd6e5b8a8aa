"""Segmentation metrics: dataset-summed IoU and boundary/interior pixel accuracy.

mIoU follows the reference protocol: intersections and unions are summed over the
whole split (not averaged per image), label 255 is ignored, and the mean is taken
over classes whose union is non-empty (present in prediction or label).
"""
from __future__ import annotations

from typing import Iterable

import torch
from torchmetrics import Metric


class SegmentationMetrics(Metric):
    """Accumulates a confusion matrix plus boundary/interior hit counts.

    ``update(preds [B,H,W] int, labels [B,H,W] int, boundary [B,H,W] bool | None)``;
    ``compute()`` → dict with ``miou`` (float tensor), ``iou`` [C] (NaN for empty
    classes), ``acc`` (pixel accuracy), ``boundary_acc``, ``interior_acc`` (NaN when
    no boundary was given). Distributed sync (sum) comes from torchmetrics.

    Args:
        num_classes: C; labels and predictions lie in ``0..C-1``.
        ignore_index: label value of pixels that count nowhere (their prediction is
            ignored too).

    Shape:
        - preds: :math:`(B, H, W)` integer class ids in ``0..C-1``.
        - labels: :math:`(B, H, W)` integer, ``0..C-1`` or ``ignore_index``.
        - boundary: :math:`(B, H, W)` bool, or None.
        - compute()["iou"]: :math:`(C,)` float64; the other entries are scalars (float64).

    Example:
        >>> import torch
        >>> m = SegmentationMetrics(num_classes=3)
        >>> labels = torch.tensor([[[0, 0, 1, 1]]])
        >>> m.update(torch.tensor([[[0, 1, 1, 1]]]), labels, boundary=torch.tensor([[[False, True, True, False]]]))
        >>> r = m.compute()
        >>> r["iou"]
        tensor([0.5000, 0.6667,    nan], dtype=torch.float64)
        >>> float(r["miou"]), float(r["acc"]), float(r["boundary_acc"]), float(r["interior_acc"])
        (0.5833333333333333, 0.75, 0.5, 1.0)
    """

    full_state_update = False

    def __init__(self, num_classes: int = 19, ignore_index: int = 255) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.add_state("confmat", torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("region_hits", torch.zeros(2, 2, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, labels: torch.Tensor, boundary: torch.Tensor | None = None) -> None:
        """Add a batch: ``preds``, ``labels`` [B,H,W] int; ``boundary`` [B,H,W] bool (or
        None: the boundary/interior counts stay unchanged). Raises ValueError on shape
        mismatch, labels outside ``0..C-1`` other than ``ignore_index``, or predictions
        outside ``0..C-1``."""
        if preds.shape != labels.shape:
            raise ValueError(f"preds {tuple(preds.shape)} and labels {tuple(labels.shape)} differ in shape")
        preds, labels = preds.long(), labels.long()
        valid = labels != self.ignore_index
        bad = valid & ((labels < 0) | (labels >= self.num_classes))
        if bad.any():
            raise ValueError(
                f"labels hold values outside 0..{self.num_classes - 1} and {self.ignore_index}: "
                f"{torch.unique(labels[bad]).tolist()[:10]}"
            )
        if ((preds < 0) | (preds >= self.num_classes)).any():
            raise ValueError(f"predictions must lie in 0..{self.num_classes - 1}")
        k = self.num_classes
        index = labels[valid] * k + preds[valid]
        self.confmat += torch.bincount(index, minlength=k * k).reshape(k, k)
        if boundary is not None:
            if boundary.shape != labels.shape:
                raise ValueError(f"boundary {tuple(boundary.shape)} must match labels {tuple(labels.shape)}")
            correct = (preds == labels) & valid
            for row, region in enumerate((boundary.bool(), ~boundary.bool())):
                self.region_hits[row, 0] += (correct & region).sum()
                self.region_hits[row, 1] += (valid & region).sum()

    def compute(self) -> dict[str, torch.Tensor]:
        """:func:`iou_from_confmat` of everything added so far (summed over processes)."""
        return iou_from_confmat(self.confmat, self.region_hits)


def iou_from_confmat(confmat: torch.Tensor, region_hits: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-class IoU, mIoU, pixel accuracy (and boundary/interior accuracy) from a
    [C,C] confusion matrix (rows = label, columns = prediction).

    IoU_c = cm[c,c] / (row_c + column_c − cm[c,c]); NaN for a class with an empty union,
    and mIoU is the mean over the other classes (NaN if every union is empty).

    Args:
        confmat: confusion matrix, ``confmat[l, p]`` = pixels with label l predicted p.
        region_hits: optional ``[[boundary correct, boundary total], [interior correct,
            interior total]]`` pixel counts.

    Returns:
        dict of float64 tensors: ``miou``, ``iou`` [C], ``acc`` (correct / all counted
        pixels; NaN when none) and, with ``region_hits``, ``boundary_acc`` and
        ``interior_acc`` (NaN when the region is empty).

    Shape:
        - confmat: :math:`(C, C)` integer counts.
        - region_hits: :math:`(2, 2)` integer counts.

    Example:
        >>> import torch
        >>> out = iou_from_confmat(torch.tensor([[3, 1], [0, 4]]))
        >>> out["iou"]
        tensor([0.7500, 0.8000], dtype=torch.float64)
        >>> round(float(out["miou"]), 4), float(out["acc"])
        (0.775, 0.875)
    """
    cm = confmat.double()
    inter = cm.diag()
    union = cm.sum(0) + cm.sum(1) - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(inter, float("nan")))
    total = cm.sum()
    out = {
        "miou": torch.nanmean(iou) if (union > 0).any() else torch.tensor(float("nan"), dtype=torch.float64),
        "iou": iou,
        "acc": inter.sum() / total if total > 0 else torch.tensor(float("nan"), dtype=torch.float64),
    }
    if region_hits is not None:
        hits = region_hits.double()
        nan = torch.tensor(float("nan"), dtype=torch.float64)
        out["boundary_acc"] = hits[0, 0] / hits[0, 1] if hits[0, 1] > 0 else nan
        out["interior_acc"] = hits[1, 0] / hits[1, 1] if hits[1, 1] > 0 else nan
    return out


def mean_iou(
    preds: Iterable[torch.Tensor],
    labels: Iterable[torch.Tensor],
    num_classes: int = 19,
    ignore_index: int = 255,
) -> dict[str, float | torch.Tensor]:
    """Dataset mIoU of paired prediction/label maps (int [H,W] tensors, one per image).

    Intersections and unions are summed over all images before the division (the
    reference protocol, docs/design.md §2), not averaged per image.

    Args:
        preds: predicted class ids, one map per image (tensors or arrays).
        labels: label maps in the same order; ``ignore_index`` pixels are skipped.
        num_classes: C.
        ignore_index: label value that counts nowhere.

    Returns:
        ``{"miou": float, "iou": Tensor[C]}`` (fractions 0–1; NaN IoU for classes
        absent from both prediction and label, excluded from the mean). Raises
        ValueError for no image, a shape mismatch or out-of-range values.

    Shape:
        - preds[i], labels[i]: :math:`(H_i, W_i)` integer; sizes may differ between images.
        - iou: :math:`(C,)` float32.

    Example:
        >>> import torch
        >>> labels = [torch.tensor([[0, 0, 1], [1, 1, 255]])]
        >>> preds = [torch.tensor([[0, 1, 1], [1, 1, 0]])]
        >>> out = mean_iou(preds, labels, num_classes=2)
        >>> out["iou"]  # class 0: 1/2, class 1: 3/4 (the ignored pixel counts nowhere)
        tensor([0.5000, 0.7500])
        >>> out["miou"]
        0.625
    """
    metric = SegmentationMetrics(num_classes, ignore_index)
    n = 0
    for pred, label in zip(preds, labels, strict=True):
        metric.update(torch.as_tensor(pred), torch.as_tensor(label))
        n += 1
    if n == 0:
        raise ValueError("mean_iou needs at least one image")
    result = metric.compute()
    return {"miou": float(result["miou"]), "iou": result["iou"].float()}
