"""A preempted SLURM job (simulated): Lightning's requeue signal saves a checkpoint and
calls ``scontrol requeue`` (a fake on PATH records it); the requeued job (same job id,
SLURM_RESTART_COUNT=1) finds its run directory and continues from the saved step."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TINY = ["data.num_source=16", "data.num_generated=16", "data.num_test=4", "data.height=64", "data.width=128",
        "data.batch_size=2", "data.eval_batch_size=4", "trainer=debug", "test=false", "extras.print_config=false"]


class StepProbe(L.Callback):
    """Appends ``trainer.global_step`` to ``path`` before every training batch."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        with self.path.open("a") as f:
            f.write(f"{trainer.global_step}\n")


def _env(tmp_path, **extra):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", OMP_NUM_THREADS="1", SLURM_JOB_ID="4242",
               SLURM_JOB_NAME="flexseg", SLURM_NTASKS="1", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0",
               HYDRA_FULL_ERROR="1", **extra)
    return env


def _cmd(tmp_path, probe, *extra):
    return [sys.executable, "-m", "flexseg.train", f"paths.log_dir={tmp_path / 'logs'}", *TINY,
            f"+callbacks.probe._target_={__name__}.StepProbe", f"+callbacks.probe.path={probe}", *extra]


def _steps(path):
    return [int(s) for s in path.read_text().split()] if path.is_file() else []


def _wait(predicate, proc, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"training exited ({proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"timeout waiting for {what}")


@pytest.mark.slow
def test_requeued_job_continues_from_its_checkpoint(tmp_path):
    run_dir = tmp_path / "logs" / "train" / "runs" / "slurm-4242"
    probe1, probe2 = tmp_path / "steps1.txt", tmp_path / "steps2.txt"
    proc = subprocess.Popen(_cmd(tmp_path, probe1, "trainer.max_steps=100000"), cwd=ROOT, env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: len(_steps(probe1)) >= 4, proc, 300, "4 training steps")
        proc.send_signal(signal.SIGUSR1)  # SLURM's --signal=USR1@<s> before the time limit
        _wait(lambda: (tmp_path / "scontrol.log").is_file(), proc, 120, "scontrol requeue")
    finally:
        proc.kill()  # the time limit: SLURM kills the job
        proc.wait()
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    hpc = sorted(run_dir.glob("hpc_ckpt_*.ckpt"))
    assert len(hpc) == 1, sorted(p.name for p in run_dir.iterdir())
    saved = torch.load(hpc[0], map_location="cpu", weights_only=False)["global_step"]
    assert saved >= 3 and not (run_dir / "checkpoints" / "last.ckpt").exists()

    # the requeued job: same job id, same command (shorter, to keep the test fast)
    done = subprocess.run(_cmd(tmp_path, probe2, f"trainer.max_steps={saved + 2}"), cwd=ROOT,
                          env=_env(tmp_path, SLURM_RESTART_COUNT="1"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _steps(probe2) == [saved, saved + 1], "continues at the saved step, not at 0"
    last = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == saved + 2

    # a fresh (not requeued) job landing in the same directory must not train over it
    again = subprocess.run(_cmd(tmp_path, tmp_path / "steps3.txt", "trainer.max_steps=5"), cwd=ROOT,
                           env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert again.returncode != 0 and "resume=true" in again.stderr
    assert not (tmp_path / "steps3.txt").exists()
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == saved + 2
