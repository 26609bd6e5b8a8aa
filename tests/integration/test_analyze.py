"""python -m flexseg.analyze: errors per boundary ring and interior, per domain."""
import json
import subprocess
import sys

import pytest
from omegaconf import open_dict

from flexseg.analyze import analyze
from tests.integration.test_configs import compose_cfg
from tests.integration.test_train import TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from flexseg.train import train

    out = tmp_path_factory.mktemp("train")
    cfg = compose_cfg([*TINY, "trainer=debug", "trainer.limit_test_batches=null"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    return out / "checkpoints" / "last.ckpt", train(cfg)


def test_analysis_agrees_with_the_training_evaluation(trained, tmp_path):
    ckpt, summary = trained
    cfg = compose_cfg([*TINY, f"ckpt_path={ckpt}", "examples=1"], name="analyze")
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    results = analyze(cfg)
    assert list(results) == ["clear", "fog", "night", "rain", "snow"]
    for domain, r in results.items():
        counts = r["counts"]
        errors = sum(c[0] for c in counts.values())
        pixels = sum(c[1] for c in counts.values())
        # the overall error rate is 1 − pixel accuracy of the training run's test
        assert errors / pixels == pytest.approx(1 - summary["acc"][domain], abs=1e-6)
        assert r["miou"] == pytest.approx(summary["miou"][domain], abs=1e-6)
        assert r["error_rate"]["interior"] == pytest.approx(1 - summary["interior_acc"][domain], abs=1e-6)
        assert r["error_rate"]["boundary"] == pytest.approx(1 - summary["boundary_acc"][domain], abs=1e-6)
        assert sum(r["pixel_share"].values()) == pytest.approx(1.0)
    saved = json.loads((tmp_path / "analysis.json").read_text())
    assert saved["kernel_sizes"] == [3, 5, 7] and set(saved["domains"]) == set(results)
    md = (tmp_path / "analysis.md").read_text()
    assert "err thin" in md and "err interior" in md and "| fog |" in md
    assert (tmp_path / "error_rates.png").stat().st_size > 1000
    assert (tmp_path / "examples.png").stat().st_size > 1000
    assert (tmp_path / "analysis.csv").read_text().count("\n") == 6


def test_analyze_cli_requires_a_checkpoint(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "flexseg.analyze", f"hydra.run.dir={tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "ckpt_path" in proc.stderr
