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
    """

    full_state_update = False

    def __init__(self, num_classes: int = 19, ignore_index: int = 255) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.add_state("confmat", torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("region_hits", torch.zeros(2, 2, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, labels: torch.Tensor, boundary: torch.Tensor | None = None) -> None:
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
        return iou_from_confmat(self.confmat, self.region_hits)


def iou_from_confmat(confmat: torch.Tensor, region_hits: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-class IoU, mIoU, pixel accuracy (and boundary/interior accuracy) from a
    [C,C] confusion matrix (rows = label, columns = prediction)."""
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

    Returns ``{"miou": float, "iou": Tensor[C]}`` (fractions 0–1; NaN IoU for classes
    absent from both prediction and label, excluded from the mean).
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
