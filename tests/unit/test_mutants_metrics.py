"""Metric tests written against the mutants that survived ``make mutation`` (docs/testing.md).

They pin what tests/unit/test_metrics.py left open: the defaults (19 classes, ignore 255),
classes whose union is a single pixel, one-pixel and empty datasets, label and prediction
values just out of range, boundary/interior accuracies that differ from each other and
accumulate over several updates, integer (exact) counts, the sum reduction used to merge
process states, and ``mean_iou`` on unequal numbers of predictions and labels. Every
expected number is counted by hand in the comments.
"""
from __future__ import annotations

import math
import re

import pytest
import torch

from flexseg.metrics import SegmentationMetrics, iou_from_confmat, mean_iou


def t(rows) -> torch.Tensor:
    """One image [1,H,W] int64 from nested lists."""
    return torch.tensor([rows], dtype=torch.long)


def test_defaults_are_19_classes_and_ignore_255():
    m = SegmentationMetrics()
    m.update(t([[0, 18], [5, 5]]), t([[0, 18], [255, 5]]))  # the 255 pixel counts nowhere
    r = m.compute()
    assert tuple(r["iou"].shape) == (19,)
    assert float(r["acc"]) == 1.0 and float(r["miou"]) == 1.0  # classes 0, 5, 18: IoU 1, others NaN
    assert int(m.metric_state["confmat"].sum()) == 3
    out = mean_iou([torch.tensor([[0, 18]])], [torch.tensor([[0, 255]])])
    assert tuple(out["iou"].shape) == (19,) and out["miou"] == 1.0  # class 18 predicted on an ignored pixel


def test_mean_iou_passes_ignore_index_on():
    # ignore_index 0: the 0-pixels count nowhere, 255 would be an out-of-range label
    out = mean_iou([torch.tensor([[1, 1, 2]])], [torch.tensor([[0, 1, 1]])], num_classes=3, ignore_index=0)
    # class 1: intersection 1 (x=1), union 2 (x=1 label+pred, x=2 label) → 0.5; class 2: inter 0, union 1 → 0
    assert out["iou"][1].item() == pytest.approx(0.5) and out["iou"][2].item() == 0.0
    assert math.isnan(out["iou"][0].item()) and out["miou"] == pytest.approx(0.25)


def test_a_class_whose_union_is_one_pixel():
    # class 2 is predicted once and labelled nowhere (union 1, IoU 0); class 1 hit once exactly (IoU 1)
    out = mean_iou([torch.tensor([[0, 0, 2, 1]])], [torch.tensor([[0, 0, 0, 1]])], num_classes=3)
    assert out["iou"].tolist() == pytest.approx([2 / 3, 1.0, 0.0])
    assert out["miou"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)


@pytest.mark.parametrize(("pred", "label", "iou0"), [(0, 0, 1.0), (1, 0, 0.0)])
def test_a_dataset_of_one_pixel(pred, label, iou0):
    m = SegmentationMetrics(num_classes=2)
    m.update(t([[pred]]), t([[label]]), boundary=torch.tensor([[[True]]]))
    r = m.compute()
    assert float(r["iou"][0]) == iou0 and float(r["miou"]) == pytest.approx(iou0 if pred == label else 0.0)
    assert float(r["acc"]) == iou0
    assert float(r["boundary_acc"]) == iou0 and math.isnan(float(r["interior_acc"]))
    m = SegmentationMetrics(num_classes=2)
    m.update(t([[pred]]), t([[label]]), boundary=torch.tensor([[[False]]]))
    r = m.compute()
    assert float(r["interior_acc"]) == iou0 and math.isnan(float(r["boundary_acc"]))


def test_an_empty_dataset_gives_float64_nans():
    m = SegmentationMetrics(num_classes=3)
    m.update(t([[0, 1]]), t([[255, 255]]), boundary=torch.tensor([[[True, False]]]))
    r = m.compute()
    for key in ("miou", "acc", "boundary_acc", "interior_acc"):
        assert r[key].dtype == torch.float64 and math.isnan(float(r[key])), key
    assert r["iou"].dtype == torch.float64 and bool(r["iou"].isnan().all())
    # without a boundary there are no region entries; the rest is the same
    r = iou_from_confmat(torch.zeros(3, 3, dtype=torch.long))
    assert set(r) == {"miou", "iou", "acc"} and math.isnan(float(r["miou"])) and r["acc"].dtype == torch.float64


def test_boundary_and_interior_accuracies_differ_and_accumulate():
    m = SegmentationMetrics(num_classes=3)
    labels = t([[0, 0, 1, 1, 2, 255]])
    preds = t([[0, 1, 1, 1, 0, 0]])
    boundary = torch.tensor([[[True, True, True, False, False, False]]])
    m.update(preds, labels, boundary)
    # boundary: x=0 right, x=1 wrong, x=2 right → 2/3; interior (x=3, 4; x=5 ignored): right, wrong → 1/2
    r = m.compute()
    assert float(r["boundary_acc"]) == pytest.approx(2 / 3) and float(r["interior_acc"]) == pytest.approx(1 / 2)
    assert float(r["acc"]) == pytest.approx(3 / 5)
    # a second batch: boundary 1 of 1 right, interior 0 of 2 right → boundary 3/4, interior 1/4
    m.update(t([[2, 0, 0]]), t([[2, 1, 1]]), torch.tensor([[[True, False, False]]]))
    r = m.compute()
    assert float(r["boundary_acc"]) == pytest.approx(3 / 4) and float(r["interior_acc"]) == pytest.approx(1 / 4)
    assert float(r["acc"]) == pytest.approx(4 / 8)


def test_every_pixel_on_the_boundary():
    m = SegmentationMetrics(num_classes=2)
    m.update(t([[0, 1, 1]]), t([[0, 1, 0]]), torch.ones(1, 1, 3, dtype=torch.bool))
    r = m.compute()
    assert float(r["boundary_acc"]) == pytest.approx(2 / 3) and math.isnan(float(r["interior_acc"]))


def test_counts_are_exact_integers():
    # float32 counts would stop at 2**24 pixels per cell (a Cityscapes split has ~1e9 pixels)
    m = SegmentationMetrics(num_classes=2)
    m.update(t([[0, 1]]), t([[0, 1]]), torch.tensor([[[True, False]]]))
    state = m.metric_state
    assert state["confmat"].dtype == torch.int64 and state["region_hits"].dtype == torch.int64
    assert state["confmat"].tolist() == [[1, 0], [0, 1]] and state["region_hits"].tolist() == [[1, 1], [1, 1]]


def test_merged_states_equal_one_metric_on_all_batches():
    # what distributed sync does: every state is summed over processes
    a, b, both = SegmentationMetrics(num_classes=3), SegmentationMetrics(num_classes=3), SegmentationMetrics(num_classes=3)
    batch1 = (t([[0, 1, 2, 2]]), t([[0, 1, 1, 2]]), torch.tensor([[[True, True, False, False]]]))
    batch2 = (t([[1, 1, 0]]), t([[1, 0, 0]]), torch.tensor([[[False, True, True]]]))
    a.update(*batch1)
    b.update(*batch2)
    both.update(*batch1)
    both.update(*batch2)
    a.merge_state(b)
    ra, rb = a.compute(), both.compute()
    for key in ("miou", "acc", "boundary_acc", "interior_acc"):
        assert float(ra[key]) == pytest.approx(float(rb[key])), key
    assert torch.allclose(ra["iou"], rb["iou"], equal_nan=True)
    # by hand: confusion rows (label) × columns (pred): [[1,0,0],[0,1,1],[0,0,1]] + [[1,1,0],[0,1,0],[0,0,0]]
    assert a.metric_state["confmat"].tolist() == [[2, 1, 0], [0, 2, 1], [0, 0, 1]]
    # region hits (correct, total): boundary 2/2 + 1/2, interior 1/2 + 1/1
    assert a.metric_state["region_hits"].tolist() == [[3, 4], [2, 3]]


def test_labels_equal_to_num_classes_are_rejected():
    m = SegmentationMetrics(num_classes=3)
    with pytest.raises(ValueError, match=r"labels hold values outside 0\.\.2 and 255: \[3\]"):
        m.update(t([[0, 1]]), t([[0, 3]]))
    with pytest.raises(ValueError, match=r"outside 0\.\.2 and 255: \[-1\]"):
        m.update(t([[0, 1]]), t([[0, -1]]))


@pytest.mark.parametrize("bad", [3, -1, 4])
def test_predictions_out_of_range_are_rejected(bad):
    m = SegmentationMetrics(num_classes=3)
    with pytest.raises(ValueError, match=r"predictions must lie in 0\.\.2$"):
        m.update(t([[0, bad]]), t([[0, 1]]))
    assert int(m.metric_state["confmat"].sum()) == 0  # nothing was counted


def test_boundary_of_another_shape_is_rejected():
    m = SegmentationMetrics(num_classes=3)
    with pytest.raises(ValueError, match=r"boundary \(1, 1, 3\) must match labels \(1, 1, 2\)"):
        m.update(t([[0, 1]]), t([[0, 1]]), torch.zeros(1, 1, 3, dtype=torch.bool))


def test_mean_iou_needs_as_many_labels_as_predictions():
    p = torch.zeros(2, 2, dtype=torch.long)
    with pytest.raises(ValueError):
        mean_iou([p, p], [p], num_classes=2)
    with pytest.raises(ValueError):
        mean_iou([p], [p, p], num_classes=2)


# ---- second pass (issue 29): the messages word for word ----

def _exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


def test_out_of_range_labels_list_at_most_ten_values():
    # twelve distinct bad labels (20..31) with 3 classes: the message shows the ten smallest
    m = SegmentationMetrics(num_classes=3)
    labels = torch.arange(20, 32).reshape(1, 3, 4)
    with pytest.raises(ValueError, match=_exact("labels hold values outside 0..2 and 255: [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]")):
        m.update(torch.zeros(1, 3, 4, dtype=torch.long), labels)
    # exactly ten: all of them
    labels = torch.arange(20, 30).reshape(1, 2, 5)
    with pytest.raises(ValueError, match=_exact("labels hold values outside 0..2 and 255: [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]")):
        m.update(torch.zeros(1, 2, 5, dtype=torch.long), labels)


def test_the_other_messages_word_for_word():
    m = SegmentationMetrics(num_classes=3, ignore_index=7)
    with pytest.raises(ValueError, match=_exact("preds (1, 2, 2) and labels (1, 2, 3) differ in shape")):
        m.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=_exact("labels hold values outside 0..2 and 7: [255]")):
        m.update(torch.zeros(1, 1, 2, dtype=torch.long), torch.tensor([[[0, 255]]]))
    with pytest.raises(ValueError, match=_exact("predictions must lie in 0..2")):
        m.update(torch.tensor([[[0, 3]]]), torch.tensor([[[0, 7]]]))
    with pytest.raises(ValueError, match=_exact("boundary (1, 2) must match labels (1, 1, 2)")):
        m.update(torch.tensor([[[0, 1]]]), torch.tensor([[[0, 7]]]), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match=_exact("mean_iou needs at least one image")):
        mean_iou([], [], num_classes=3)
    with pytest.raises(ValueError, match=_exact("mean_iou needs at least one image")):
        mean_iou(iter(()), iter(()))
