"""boundary_bands / granularity_map against a slow per-pixel reference."""
from __future__ import annotations

import pytest
import torch

from flexseg.flex.boundaries import boundary_bands, granularity_map

IGN = 255


def ref_bands(labels: torch.Tensor, kernel_sizes, ignore_index=IGN) -> torch.Tensor:
    """Explicit loops: window cut at the border, ≥ 2 different non-ignored labels, p not ignored."""
    B, H, W = labels.shape
    out = torch.zeros(B, len(kernel_sizes), H, W, dtype=torch.bool)
    lab = labels.tolist()
    for b in range(B):
        for g, k in enumerate(kernel_sizes):
            r = k // 2
            for y in range(H):
                for x in range(W):
                    if lab[b][y][x] == ignore_index:
                        continue
                    seen = set()
                    for yy in range(max(0, y - r), min(H, y + r + 1)):
                        for xx in range(max(0, x - r), min(W, x + r + 1)):
                            v = lab[b][yy][xx]
                            if v != ignore_index:
                                seen.add(v)
                    out[b, g, y, x] = len(seen) >= 2
    return out


def ref_dilate_minus_erode(labels: torch.Tensor, k: int, num_classes: int) -> torch.Tensor:
    """Union over classes of Dilate(M_c) − Erode(M_c) (windows cut at the border, ignored
    pixels belong to no class), restricted to non-ignored pixels."""
    B, H, W = labels.shape
    r = k // 2
    out = torch.zeros(B, H, W, dtype=torch.bool)
    for b in range(B):
        for c in range(num_classes):
            m = labels[b] == c
            for y in range(H):
                for x in range(W):
                    win = m[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1]
                    dil, ero = bool(win.any()), bool(win.all())
                    if dil and not ero and labels[b, y, x] != IGN:
                        out[b, y, x] = True
    return out


def random_labels(gen: torch.Generator, B=2, H=9, W=12, C=4, p_ignore=0.15) -> torch.Tensor:
    lab = torch.randint(0, C, (B, H, W), generator=gen)
    # blocky regions make bands of all granularities appear
    coarse = torch.randint(0, C, (B, (H + 2) // 3, (W + 2) // 3), generator=gen)
    coarse = coarse.repeat_interleave(3, 1).repeat_interleave(3, 2)[:, :H, :W]
    lab = torch.where(torch.rand(B, H, W, generator=gen) < 0.2, lab, coarse)
    lab[torch.rand(B, H, W, generator=gen) < p_ignore] = IGN
    return lab


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kernel_sizes", [(3, 5, 7), (1, 3), (5,)])
def test_matches_reference(seed, kernel_sizes):
    gen = torch.Generator().manual_seed(seed)
    lab = random_labels(gen)
    got = boundary_bands(lab, kernel_sizes)
    assert got.dtype == torch.bool and got.shape == (2, len(kernel_sizes), 9, 12)
    assert torch.equal(got, ref_bands(lab, kernel_sizes))


def test_equals_union_of_dilate_minus_erode():
    gen = torch.Generator().manual_seed(3)
    lab = random_labels(gen, p_ignore=0.0)  # docs/design.md §3: equality with Dilate − Erode (no ignore)
    got = boundary_bands(lab, (3, 5, 7))
    for g, k in enumerate((3, 5, 7)):
        assert torch.equal(got[:, g], ref_dilate_minus_erode(lab, k, 4))


def test_nested_and_granularity_map():
    gen = torch.Generator().manual_seed(4)
    lab = random_labels(gen, B=3)
    bands = boundary_bands(lab)
    assert bool((bands[:, 0] <= bands[:, 1]).all() and (bands[:, 1] <= bands[:, 2]).all())
    gmap = granularity_map(lab)
    assert gmap.dtype == torch.long and gmap.shape == lab.shape
    ref = ref_bands(lab, (3, 5, 7))
    for b in range(3):
        for y in range(lab.shape[1]):
            for x in range(lab.shape[2]):
                gs = [g for g in range(3) if ref[b, g, y, x]]
                assert gmap[b, y, x].item() == (gs[0] if gs else -1)
    assert set(gmap.unique().tolist()) <= {-1, 0, 1, 2}
    assert bool((gmap[lab == IGN] == -1).all())


def test_border_is_cut_not_padded():
    # a label-0 image with one different pixel in the corner: no padding value may
    # create a boundary along the other borders
    lab = torch.zeros(1, 8, 8, dtype=torch.long)
    lab[0, 0, 0] = 1
    bands = boundary_bands(lab, (3, 5))
    assert bands[0, 0].nonzero().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert int(bands[0, 1].sum()) == 9
    # a constant non-zero image has no band (−inf padding never wins the window max)
    lab = torch.full((1, 5, 5), 7)
    assert not boundary_bands(lab).any()


def test_single_class_all_ignored_and_ignore_is_not_a_label():
    single = torch.full((2, 6, 7), 3)
    assert not boundary_bands(single).any()
    assert bool((granularity_map(single) == -1).all())
    ignored = torch.full((1, 6, 7), IGN)
    assert not boundary_bands(ignored).any()
    # class 2 next to ignore only: ignore does not count as a second label
    lab = torch.full((1, 6, 7), 2)
    lab[0, :, 4:] = IGN
    assert not boundary_bands(lab).any()
    # custom ignore index
    lab = torch.tensor([[[0, 0, -1, 1]]])
    assert boundary_bands(lab, (3,), ignore_index=-1)[0, 0, 0].tolist() == [False, False, False, False]
    assert boundary_bands(lab, (5,), ignore_index=-1)[0, 0, 0].tolist() == [False, True, False, True]


def test_large_label_values_and_int32():
    lab = torch.tensor([[[100000, 100001], [100000, 100000]]], dtype=torch.int32)
    assert bool(boundary_bands(lab, (3,)).all())


@pytest.mark.parametrize(
    "labels, kernel_sizes",
    [
        (torch.zeros(2, 4, 4), (3,)),  # float
        (torch.zeros(4, 4, dtype=torch.long), (3,)),  # ndim
        (torch.zeros(1, 4, 4, dtype=torch.bool), (3,)),  # bool
        (torch.zeros(1, 4, 4, dtype=torch.long), (3, 4)),  # even
        (torch.zeros(1, 4, 4, dtype=torch.long), (5, 3)),  # decreasing
        (torch.zeros(1, 4, 4, dtype=torch.long), (3, 3)),  # not strictly increasing
        (torch.zeros(1, 4, 4, dtype=torch.long), ()),  # empty
        (torch.zeros(1, 4, 4, dtype=torch.long), (0,)),  # non-positive
        (torch.zeros(1, 4, 4, dtype=torch.long), (2.5,)),  # non-int
    ],
)
def test_validation(labels, kernel_sizes):
    with pytest.raises(ValueError):
        boundary_bands(labels, kernel_sizes)


@pytest.mark.parametrize("d", [1, 3, 5, 7, 9, 15])
@pytest.mark.parametrize("dim", [2, 3])
def test_window_max_by_doubling_equals_max_pool(d, dim):
    from flexseg.flex.boundaries import _window_max_1d

    g = torch.Generator().manual_seed(d * 10 + dim)
    x = torch.randn(2, 2, 11, 13, generator=g)
    x[x > 1.5] = float("-inf")
    kernel = (d, 1) if dim == 2 else (1, d)
    pad = (d // 2, 0) if dim == 2 else (0, d // 2)
    ref = torch.nn.functional.max_pool2d(x, kernel, stride=1, padding=pad)  # pads with −inf
    assert torch.equal(_window_max_1d(x, d, dim), ref)
