"""Guards against bad runs: non-finite loss, unwritable output, a busy run directory, wrong checkpoint,
SIGTERM."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from flexseg.build import build_datamodule, build_module
from flexseg.utils.config import ConfigError, check_output_dir
from tests.integration.test_configs import compose_cfg
from tests.integration.test_train import ROOT, TINY


def _batch(module, dm):
    batch = next(iter(dm.train_dataloader()))
    batch["image"] = batch["image"].float()
    batch["image"][0, :, 0, 0] = float("nan")
    return batch


class _FakeTrainer:
    datamodule = None


def test_nonfinite_loss_stops_with_step_and_paths():
    cfg = compose_cfg([*TINY, "trainer=debug"])
    dm, module = build_datamodule(cfg), build_module(cfg)
    batch = _batch(module, dm)
    with pytest.raises(FloatingPointError, match=r"step 0.*synthdrive://"):
        module.training_step(batch, 0)


def test_nonfinite_loss_can_be_skipped_and_counted():
    cfg = compose_cfg([*TINY, "trainer=debug", "skip_nonfinite=true"])
    dm, module = build_datamodule(cfg), build_module(cfg)
    module.log = lambda *a, **k: None
    assert module.training_step(_batch(module, dm), 0) is None
    assert module.skipped_nonfinite == 1


def test_unwritable_output_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="not writable"):
        check_output_dir(blocker / "run")


def test_second_training_into_a_busy_run_dir_stops_before_touching_it(tmp_path):
    from omegaconf import open_dict

    from flexseg.train import train
    from flexseg.utils.run_lock import is_first_process, run_dir_lock

    if not is_first_process():
        pytest.skip("runs as a non-zero rank: no lock is taken")
    cfg = compose_cfg([*TINY, "trainer=debug"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    with run_dir_lock(tmp_path):  # stands for a sweep already training into tmp_path
        with pytest.raises(ConfigError, match=r"another process \(pid \d+\) is training into"):
            train(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".flexseg.lock"]


def test_checkpoint_of_another_model_lists_mismatched_keys(tmp_path):
    from flexseg.eval import load_network_weights

    small = build_module(compose_cfg([*TINY]))
    other = build_module(compose_cfg([*TINY, "model.embed_dim=64"]))
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in other.net.state_dict().items()}}, path)
    with pytest.raises(Exception, match="decode_head"):
        load_network_weights(small.net, path)


@pytest.mark.slow
def test_sigterm_saves_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "flexseg.train", *TINY, "trainer.max_steps=100000", f"hydra.run.dir={run}",
           "callbacks.progress_bar=null"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = run / "csv" / "metrics.csv"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") > 1:
            break
        time.sleep(1)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=300)
    last = run / "checkpoints" / "last.ckpt"
    assert last.is_file(), out[-3000:]
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] > 0
    # the HAS sampler state travels with the model: one feedback per optimizer step
    assert state["SegDataModule"]["sampler"]["step"] == state["global_step"]
