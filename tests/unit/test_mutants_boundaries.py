"""Boundary-band tests written against the mutants that survived ``make mutation``
(docs/testing.md): ``granularity_map`` with an ``ignore_index`` other than 255, kernel
sizes that are negative or not integers, and the input checks' error messages. Expected
maps come from window loops written here from docs/design.md §3.
"""
from __future__ import annotations

import re

import pytest
import torch

from flexseg.flex.boundaries import boundary_bands, check_kernel_sizes, granularity_map


def ref_granularity(lab: torch.Tensor, kernels, ignore: int) -> list[list[int]]:
    """Smallest g whose k_g×k_g window (cut at the border) holds two labels other than
    ``ignore``; −1 for interior and ignored pixels."""
    H, W = lab.shape
    out = [[-1] * W for _ in range(H)]
    for y in range(H):
        for x in range(W):
            if int(lab[y, x]) == ignore:
                continue
            for g, k in enumerate(kernels):
                r = k // 2
                window = lab[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1]
                if len({int(v) for v in window.flatten()} - {ignore}) >= 2:
                    out[y][x] = g
                    break
    return out


@pytest.mark.parametrize("ignore", [0, 7])
def test_granularity_map_honours_ignore_index(ignore):
    g = torch.Generator().manual_seed(ignore)
    labels = torch.randint(0, 3, (2, 9, 10), generator=g)
    labels[torch.rand(labels.shape, generator=g) < 0.25] = ignore
    labels[0, :4, :5] = 2  # a uniform patch: interior pixels
    got = granularity_map(labels, (3, 5, 7), ignore_index=ignore)
    for b in range(2):
        assert got[b].tolist() == ref_granularity(labels[b], (3, 5, 7), ignore)
    # the ignored value is a label like any other for the default ignore_index
    assert not torch.equal(got, granularity_map(labels, (3, 5, 7)))


def test_granularity_map_hand_example_with_ignore_index_1():
    # label 1 is ignored: the 0|2 edge is a boundary, the 1-pixels are not labels
    labels = torch.tensor([[[0, 0, 1, 2, 2, 2]]])
    got = granularity_map(labels, (3, 5), ignore_index=1)
    # x=0: window 5 = (0, 0, 1) → {0} → −1; x=1: window 3 → {0} (1 ignored), window 5 → {0, 2} → 1;
    # x=2: ignored → −1; x=3: window 3 → {2}, window 5 → {0, 2} → 1; x=4, 5: window 5 → {2} → −1
    assert got.tolist() == [[[-1, 1, -1, 1, -1, -1]]]
    bands = boundary_bands(labels, (3, 5), ignore_index=1)
    assert bands[0, 0].tolist() == [[False] * 6]
    assert bands[0, 1].tolist() == [[False, True, False, True, False, False]]


@pytest.mark.parametrize("kernel_sizes", [(-1, 3), (-3,), (3.5, 5), (1.0000001, 3)])
def test_negative_or_fractional_kernel_sizes_are_rejected(kernel_sizes):
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="odd positive ints"):
        boundary_bands(labels, kernel_sizes)
    with pytest.raises(ValueError, match="odd positive ints"):
        granularity_map(labels, kernel_sizes)


@pytest.mark.parametrize(
    ("labels", "kernel_sizes", "message"),
    [
        ([[[0, 1]]], (3,), "labels must be a torch.Tensor"),
        (torch.zeros(1, 2, 2), (3,), "labels must be an integer tensor"),
        (torch.zeros(1, 2, 2, dtype=torch.bool), (3,), "labels must be an integer tensor"),
        (torch.zeros(2, 2, dtype=torch.long), (3,), r"labels must have shape \[B,H,W\]"),
        (torch.zeros(1, 2, 2, dtype=torch.long), 3, "kernel_sizes must be a sequence of odd ints"),
        (torch.zeros(1, 2, 2, dtype=torch.long), (), "kernel_sizes must not be empty"),
        (torch.zeros(1, 2, 2, dtype=torch.long), (4,), "odd positive ints"),
        (torch.zeros(1, 2, 2, dtype=torch.long), (5, 3), "strictly increasing"),
        (torch.zeros(1, 2, 2, dtype=torch.long), (3, 3), "strictly increasing"),
    ],
)
def test_each_check_names_the_problem(labels, kernel_sizes, message):
    with pytest.raises(ValueError, match=message):
        boundary_bands(labels, kernel_sizes)


# ---- second pass (issue 29): every message word for word ----

@pytest.mark.parametrize(
    ("labels", "kernel_sizes", "message"),
    [
        ([[[0, 1]]], (3,), "labels must be a torch.Tensor, got list"),
        (None, (3,), "labels must be a torch.Tensor, got NoneType"),
        (torch.zeros(1, 2, 2), (3,), "labels must be an integer tensor (int64), got dtype torch.float32"),
        (torch.zeros(1, 2, 2, dtype=torch.bool), (3,), "labels must be an integer tensor (int64), got dtype torch.bool"),
        (torch.zeros(1, 2, 2, dtype=torch.complex64), (3,), "labels must be an integer tensor (int64), got dtype torch.complex64"),
        (torch.zeros(2, 2, dtype=torch.long), (3,), "labels must have shape [B,H,W], got (2, 2)"),
        (torch.zeros(1, 2, 2, dtype=torch.long), 3, "kernel_sizes must be a sequence of odd ints, got 3"),
        (torch.zeros(1, 2, 2, dtype=torch.long), None, "kernel_sizes must be a sequence of odd ints, got None"),
        (torch.zeros(1, 2, 2, dtype=torch.long), (), "kernel_sizes must not be empty"),
        (torch.zeros(1, 2, 2, dtype=torch.long), [], "kernel_sizes must not be empty"),
        (torch.zeros(1, 2, 2, dtype=torch.long), (4,), "kernel sizes must be odd positive ints, got (4,)"),
        (torch.zeros(1, 2, 2, dtype=torch.long), [3, 3.5], "kernel sizes must be odd positive ints, got (3, 3.5)"),
        (torch.zeros(1, 2, 2, dtype=torch.long), (-1, 3), "kernel sizes must be odd positive ints, got (-1, 3)"),
        (torch.zeros(1, 2, 2, dtype=torch.long), [5, 3], "kernel sizes must be strictly increasing, got (5, 3)"),
        (torch.zeros(1, 2, 2, dtype=torch.long), (3, 3), "kernel sizes must be strictly increasing, got (3, 3)"),
    ],
)
def test_each_message_word_for_word(labels, kernel_sizes, message):
    pattern = "^" + re.escape(message) + "$"
    with pytest.raises(ValueError, match=pattern):
        boundary_bands(labels, kernel_sizes)
    with pytest.raises(ValueError, match=pattern):
        granularity_map(labels, kernel_sizes)
    if labels is not None and not isinstance(labels, list) and labels.ndim == 3 and labels.dtype == torch.long:
        with pytest.raises(ValueError, match=pattern):
            check_kernel_sizes(kernel_sizes)


def test_a_non_iterable_kernel_size_keeps_the_type_error_as_cause():
    with pytest.raises(ValueError) as info:
        check_kernel_sizes(3)
    assert isinstance(info.value.__cause__, TypeError)


def test_check_kernel_sizes_returns_ints():
    ks = check_kernel_sizes([1, 3.0, 5])
    assert ks == (1, 3, 5) and all(type(k) is int for k in ks)
