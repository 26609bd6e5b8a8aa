"""flexseg.generation.bench: the throughput bench runs (tiny components on the CPU) and reports."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("diffusers")


def test_generation_bench_tiny_runs_on_cpu(tmp_path):
    from flexseg.generation.bench import main as bench_main

    out = tmp_path / "bench.json"
    results = bench_main(["--tiny", "--images", "1", "--steps", "1", "--resolution", "64", "--fusion", "off",
                          "--device", "cpu", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved == results and len(saved) == 1
    assert saved[0]["images"] == 1 and saved[0]["images_per_s"] > 0 and saved[0]["fusion"] is False
