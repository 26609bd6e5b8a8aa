"""flexseg.analysis.alignment: edge distances and per-class / per-ring sums against slow references."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("scipy")

from flexseg.analysis.alignment import AlignmentCounts, canny_edges, edge_distance, main, ring_map  # noqa: E402
from tests.data.fixtures import write_generated, write_gta  # noqa: E402


def test_edge_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    edges = rng.random((9, 12)) < 0.08
    edges[0, 0] = True
    got = edge_distance(edges)
    pts = np.argwhere(edges)
    for y in range(9):
        for x in range(12):
            assert got[y, x] == pytest.approx(min(np.hypot(y - py, x - px) for py, px in pts))
    assert np.isinf(edge_distance(np.zeros((3, 3), bool))).all()


def test_counts_match_loop_reference():
    rng = np.random.default_rng(1)
    label = rng.choice([0, 2, 13, 255], size=(10, 11)).astype(np.uint8)
    rings = ring_map(label, (3, 5))
    dist = rng.random((10, 11)) * 4
    counts = AlignmentCounts(2)
    counts.add(dist, label, rings, tolerance=1.5)
    count = np.zeros((19, 2), int)
    dsum = np.zeros((19, 2))
    within = np.zeros((19, 2), int)
    for y in range(10):
        for x in range(11):
            if rings[y, x] >= 0 and label[y, x] != 255:
                c, g = label[y, x], rings[y, x]
                count[c, g] += 1
                dsum[c, g] += dist[y, x]
                within[c, g] += dist[y, x] <= 1.5
    assert np.array_equal(counts.count, count) and np.array_equal(counts.within, within)
    assert np.allclose(counts.dist_sum, dsum)
    s = counts.summary()
    assert s["per_class_thin"]["car"]["mean_distance"] == pytest.approx(dsum[13, 0] / count[13, 0])
    assert s["per_ring"]["pixels"] == count.sum(0).tolist()


def test_aligned_edges_score_better_than_shifted():
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, 20:] = 200
    edges = canny_edges(image)
    assert edges[:, 18:22].any(axis=1)[5:35].all() and not edges[:, :15].any()
    dist = edge_distance(edges)

    def thin_mean(split):
        label = np.zeros((40, 40), np.uint8)
        label[:, split:] = 13
        c = AlignmentCounts(1)
        c.add(dist, label, ring_map(label, (3,)), tolerance=1.0)
        return c.summary()["per_ring"]["mean_distance"][0]

    assert thin_mean(20) <= 1.0
    assert thin_mean(26) > 4.0
    label = np.zeros((40, 40), np.uint8)
    label[:, 20:] = 13
    c = AlignmentCounts(1)
    c.add(dist, label, ring_map(label, (3,)), tolerance=1.0)
    s = c.summary()
    interior = np.minimum(dist, np.hypot(40, 40))[:, [*range(0, 19), *range(21, 40)]]
    assert s["interior"]["mean_distance"] == pytest.approx(interior.mean())
    assert s["interior"]["pixels"] == 40 * 38
    assert s["edge_density"] == pytest.approx(edges.mean())


def test_cli_writes_tables_and_plot(tmp_path):
    write_generated(tmp_path / "gen", n=3)
    write_gta(tmp_path / "gta", n=2)
    out = tmp_path / "report"
    results = main([str(tmp_path / "gen"), str(tmp_path / "gta"), "--out", str(out), "--max-images", "2"])
    assert set(results) == {"gen (generated)", "gta (gta)"}
    saved = json.loads((out / "alignment.json").read_text())
    assert saved["sets"]["gen (generated)"]["images"] == 2
    assert (out / "alignment.png").stat().st_size > 0
    md = (out / "alignment.md").read_text()
    assert "ring 0" in md and "gta (gta)" in md
    assert (out / "alignment.csv").read_text().startswith("set,group,pixels")

