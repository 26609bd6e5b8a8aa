"""Error counts per boundary ring against a slow per-pixel reference."""
from __future__ import annotations

import math

import torch

from flexseg.analysis.errors import error_rates, pixel_shares, region_error_counts, ring_names
from tests.unit.test_boundaries import ref_bands

IGN = 255


def ref_counts(preds: torch.Tensor, labels: torch.Tensor, kernel_sizes) -> torch.Tensor:
    """Explicit loops: region = first band holding the pixel, else interior."""
    bands = ref_bands(labels, kernel_sizes)
    G = len(kernel_sizes)
    out = torch.zeros(G + 1, 2, dtype=torch.long)
    B, H, W = labels.shape
    for b in range(B):
        for y in range(H):
            for x in range(W):
                lab = int(labels[b, y, x])
                if lab == IGN:
                    continue
                region = next((g for g in range(G) if bands[b, g, y, x]), G)
                out[region, 1] += 1
                out[region, 0] += int(int(preds[b, y, x]) != lab)
    return out


def test_counts_match_reference_with_ignore_and_borders():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (2, 11, 13), generator=g)
    labels[:, :2, :4] = 2  # a flat patch touching the border
    labels[0, 5:8, 5:9] = IGN
    preds = torch.where(torch.rand(labels.shape, generator=g) < 0.3, torch.randint(0, 4, labels.shape, generator=g), labels)
    for ks in ((3, 5, 7), (3,), (5, 9)):
        assert torch.equal(region_error_counts(preds, labels, ks), ref_counts(preds, labels, ks))


def test_blocky_labels_every_region_populated():
    labels = torch.zeros(1, 32, 32, dtype=torch.long)
    labels[:, :, 16:] = 1
    preds = labels.clone()
    preds[:, :, 15] = 1  # errors on the thin ring only
    counts = region_error_counts(preds, labels)
    assert torch.equal(counts, ref_counts(preds, labels, (3, 5, 7)))
    rates = error_rates(counts)
    assert rates["thin"] == 0.5 and rates["medium"] == 0.0 and rates["thick"] == 0.0 and rates["interior"] == 0.0
    assert math.isclose(rates["boundary"], 32 / (32 * 6))
    assert math.isinf(rates["boundary_to_interior"]) or math.isnan(rates["boundary_to_interior"])
    shares = pixel_shares(counts)
    assert math.isclose(sum(shares.values()), 1.0)
    assert math.isclose(shares["thin"], 2 / 32)


def test_single_class_image_is_all_interior():
    labels = torch.full((1, 8, 8), 3)
    preds = torch.zeros_like(labels)
    counts = region_error_counts(preds, labels)
    assert counts[:3].sum() == 0 and counts[3].tolist() == [64, 64]
    rates = error_rates(counts)
    assert math.isnan(rates["thin"]) and math.isnan(rates["boundary"]) and rates["interior"] == 1.0


def test_ring_names():
    assert ring_names(3) == ["thin", "medium", "thick"]
    assert ring_names(2) == ["ring0", "ring1"]


def test_compare_two_analyses(tmp_path, capsys):
    import json

    from flexseg.analysis import compare

    def write(name, thin, interior):
        d = tmp_path / name
        d.mkdir()
        rates = {"thin": thin, "medium": 0.2, "thick": 0.1, "interior": interior, "boundary": 0.3,
                 "boundary_to_interior": 0.3 / interior}
        (d / "analysis.json").write_text(json.dumps({"kernel_sizes": [3, 5, 7],
                                                     "domains": {"clear": {"error_rate": rates}, "fog": {"error_rate": rates}}}))
        return d

    a, b = write("base", 0.5, 0.05), write("flex", 0.4, 0.06)
    out = tmp_path / "out"
    assert compare.main([str(a), str(b), "--labels", "baseline", "FLEX", "--out", str(out)]) == 0
    md = (out / "compare.md").read_text()
    assert "| clear | thin | 50.00 | 40.00 | -10.00 |" in md and "| fog | interior | 5.00 | 6.00 | +1.00 |" in md
    assert (out / "compare.png").stat().st_size > 1000
    assert compare.main([str(a), str(tmp_path / "missing")]) == 2
    assert "flexseg.analyze" in capsys.readouterr().err
    assert compare.main([str(a), str(b), "--labels", "only-one"]) == 2
