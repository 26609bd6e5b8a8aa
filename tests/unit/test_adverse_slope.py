"""experiments/adverse_slope.py (H5 of experiments/synthdrive_adverse.md): per-seed slopes of
FLEX-Seg's gain on the loss of boundary evidence, and the declared rule."""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("adverse_slope", ROOT / "experiments" / "adverse_slope.py")
adverse_slope = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(adverse_slope)
DOMAINS = adverse_slope.DOMAINS


def _write(tmp_path: Path, slopes: dict[int, float], loss: dict[str, float]) -> tuple[Path, Path]:
    runs = tmp_path / "runs.csv"
    with open(runs, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["group", "seed", "path", *DOMAINS, "mean"])
        for s, b in slopes.items():
            base = [40.0 + s + i for i in range(len(DOMAINS))]
            w.writerow(["off", s, f"off/{s}", *base, 0])
            w.writerow(["flex", s, f"flex/{s}", *(v + 1.0 + b * loss[d] / 10 for v, d in zip(base, DOMAINS)), 0])
        w.writerow(["flex", 99, "flex/99", *([50.0] * len(DOMAINS)), 0])  # no partner: dropped
    evidence = tmp_path / "table.csv"
    with open(evidence, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["domain", "loss"])
        w.writerows([d, loss[d]] for d in DOMAINS)
    return runs, evidence


def test_slope_per_seed_and_interval(tmp_path):
    loss = dict(zip(DOMAINS, [0.0, 6.0, 33.0, 2.0, 1.2, 51.0, 63.0, 20.0, 18.0]))
    slopes = {0: 0.5, 1: 0.7, 2: 0.6, 3: 0.4}
    runs, evidence = _write(tmp_path, slopes, loss)
    res = adverse_slope.main(["--runs", str(runs), "--evidence", str(evidence), "--out", str(tmp_path / "out")])
    assert res["per_seed"] == pytest.approx(slopes)  # gain = 1 + b·loss/10 ⇒ slope b per 10 points
    c = res["comparison"]
    assert c.n_pairs == 4 and c.delta == pytest.approx(0.55) and c.low > 0
    assert res["rho"] == pytest.approx(1.0)
    text = (tmp_path / "out" / "slope.md").read_text()
    assert "**supported**" in text and "97.5 %" in text
    assert (tmp_path / "out" / "slope.png").exists()


def test_verdicts_and_missing_inputs(tmp_path):
    assert [adverse_slope.verdict(*ci) for ci in ((0.1, 1), (-2, -0.1), (-1, 1))] == \
        ["supported", "contradicted", "inconclusive"]
    assert adverse_slope.slope(np.array([0.0, 10.0]), np.array([1.0, 0.0])) == pytest.approx(-0.1)
    loss = dict.fromkeys(DOMAINS, 1.0)
    runs, evidence = _write(tmp_path, {0: 0.1}, loss)
    with pytest.raises(SystemExit, match="1 seed"):
        adverse_slope.main(["--runs", str(runs), "--evidence", str(evidence)])
    evidence.write_text("domain,loss\nclear,0\n")
    with pytest.raises(SystemExit, match="lacks"):
        adverse_slope.main(["--runs", str(runs), "--evidence", str(evidence)])
