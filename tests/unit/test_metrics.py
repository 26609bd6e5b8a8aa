import math

import numpy as np
import pytest
import torch

from flexseg.metrics import SegmentationMetrics, mean_iou


def reference_miou(preds, labels, num_classes, ignore_index=255):
    """Slow numpy reference: per-class summed intersection / union over all images."""
    inter = np.zeros(num_classes)
    union = np.zeros(num_classes)
    for p, l in zip(preds, labels):
        p, l = np.asarray(p), np.asarray(l)
        valid = l != ignore_index
        for c in range(num_classes):
            pc = (p == c) & valid
            lc = (l == c) & valid
            inter[c] += np.logical_and(pc, lc).sum()
            union[c] += np.logical_or(pc, lc).sum()
    iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return np.nanmean(iou), iou


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_iou_matches_numpy_reference(seed):
    g = torch.Generator().manual_seed(seed)
    k = 7
    preds, labels = [], []
    for _ in range(4):
        h, w = torch.randint(5, 20, (2,), generator=g).tolist()
        label = torch.randint(0, k, (h, w), generator=g)
        label[torch.rand(h, w, generator=g) < 0.2] = 255
        pred = torch.where(torch.rand(h, w, generator=g) < 0.6, label.clamp(max=k - 1), torch.randint(0, k, (h, w), generator=g))
        preds.append(pred)
        labels.append(label)
    out = mean_iou(preds, labels, num_classes=k)
    ref_miou, ref_iou = reference_miou(preds, labels, k)
    assert out["miou"] == pytest.approx(ref_miou, abs=1e-9)
    np.testing.assert_allclose(out["iou"].numpy(), ref_iou, atol=1e-6, equal_nan=True)


def test_absent_classes_are_excluded_and_summed_over_dataset():
    # class 2 absent everywhere → NaN and excluded; dataset-summed, not per-image mean
    labels = [torch.tensor([[0, 0], [1, 1]]), torch.tensor([[0, 255], [0, 0]])]
    preds = [torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 2], [1, 0]])]
    out = mean_iou(preds, labels, num_classes=3)
    ref, iou = reference_miou(preds, labels, 3)
    assert out["miou"] == pytest.approx(ref)
    assert float(out["iou"][0]) == pytest.approx(3 / 5)
    assert float(out["iou"][1]) == pytest.approx(2 / 4)
    # the prediction 2 falls on an ignored pixel → class 2 has empty union
    assert math.isnan(float(out["iou"][2]))
    assert out["miou"] == pytest.approx((3 / 5 + 2 / 4) / 2)


def test_boundary_interior_accuracy():
    m = SegmentationMetrics(num_classes=3)
    labels = torch.tensor([[[0, 0, 1, 1]]])
    preds = torch.tensor([[[0, 1, 1, 0]]])
    boundary = torch.tensor([[[False, True, True, False]]])
    m.update(preds, labels, boundary)
    r = m.compute()
    assert float(r["boundary_acc"]) == pytest.approx(0.5)
    assert float(r["interior_acc"]) == pytest.approx(0.5)
    assert float(r["acc"]) == pytest.approx(0.5)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="shape"):
        mean_iou([torch.zeros(2, 2, dtype=torch.long)], [torch.zeros(3, 2, dtype=torch.long)])
    with pytest.raises(ValueError, match="outside"):
        mean_iou([torch.zeros(2, 2, dtype=torch.long)], [torch.full((2, 2), 40)])
    with pytest.raises(ValueError, match="at least one"):
        mean_iou([], [])
