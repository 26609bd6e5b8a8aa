"""End-to-end: fast_dev_run-style training on synthdrive, and the CLI as a subprocess."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_configs import compose_cfg

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "data.num_source=16", "data.num_generated=16", "data.num_test=4", "data.batch_size=2",
    "data.eval_batch_size=4", "data.height=64", "data.width=128", "logger=csv",
]


def _cfg(tmp_path, extra=()):
    from omegaconf import open_dict

    cfg = compose_cfg([*TINY, "trainer=debug", *extra])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    return cfg


def test_fast_dev_run_all_modules(tmp_path):
    from flexseg.build import build_datamodule, build_module, build_trainer

    cfg = _cfg(tmp_path)
    dm, module = build_datamodule(cfg), build_module(cfg)
    trainer = build_trainer(cfg)
    trainer.fast_dev_run = 0
    trainer.fit(module, datamodule=dm)
    trainer.test(module, datamodule=dm, verbose=False)
    assert set(module.results) == {"clear", "fog", "night", "rain", "snow"}
    for r in module.results.values():
        assert 0.0 <= r["miou"] <= 1.0
        assert 0.0 <= r["boundary_acc"] <= 1.0 and 0.0 <= r["interior_acc"] <= 1.0


def test_train_function_writes_results_and_checkpoint(tmp_path):
    from flexseg.train import train

    summary = train(_cfg(tmp_path, ["flex.gap.enabled=false", "flex.ube.enabled=false", "flex.has.enabled=false"]))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["miou"]) == {"clear", "fog", "night", "rain", "snow"}
    assert saved["mean"] == pytest.approx(sum(saved["miou"].values()) / 5)
    assert summary["mean"] == pytest.approx(saved["mean"])
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "csv" / "metrics.csv").is_file()


@pytest.mark.slow
def test_cli_subprocess(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "flexseg.train", *TINY, "trainer.max_steps=3", f"hydra.run.dir={run_dir}", "seed=3"]
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results["miou"]) == {"clear", "fog", "night", "rain", "snow"}
    assert all(0 <= v <= 1 for v in results["miou"].values())
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert "mIoU" in proc.stdout
    assert "Epoch 0 · max 3 steps" in proc.stdout and "/-2" not in proc.stdout  # StepProgressBar title


@pytest.mark.slow
def test_cli_rejects_bad_values(tmp_path):
    cmd = [sys.executable, "-m", "flexseg.train", "data.batch_size=-4", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "data.batch_size" in proc.stderr


@pytest.mark.slow
def test_multirun_with_submitit_local_launcher(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "flexseg.train", "-m", "hydra/launcher=submitit_local", *TINY, "trainer.max_steps=2",
           "data.num_test=2", "seed=0,1", f"hydra.sweep.dir={sweep}"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for job in ("0", "1"):
        results = json.loads((sweep / job / "results.json").read_text())
        assert set(results["miou"]) == {"clear", "fog", "night", "rain", "snow"}


@pytest.mark.slow
def test_plain_python_runs_the_command_with_the_project_venv(tmp_path):
    """`python -m flexseg.train` typed with a Python that lacks the dependencies (the
    system one, .venv not activated) is run again by .venv/bin/python."""
    import shutil

    base = getattr(sys, "_base_executable", None) or shutil.which("python3")
    probe = subprocess.run([base, "-c", "import hydra"], capture_output=True)
    if probe.returncode == 0 or not (ROOT / ".venv" / "bin" / "python").is_file():
        pytest.skip("needs a Python without hydra and the repository's .venv")
    env = {k: v for k, v in os.environ.items() if k not in ("FLEXSEG_NO_VENV", "VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run([base, "-m", "flexseg.train", "--cfg", "job", "trainer.max_steps=7"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "running with" in proc.stderr and ".venv/bin/python" in proc.stderr
    assert "max_steps: 7" in proc.stdout
    env["FLEXSEG_NO_VENV"] = "1"  # opt-out: the plain Python's own error stays
    proc = subprocess.run([base, "-m", "flexseg.train", "--cfg", "job"], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode != 0 and "No module named" in proc.stderr
