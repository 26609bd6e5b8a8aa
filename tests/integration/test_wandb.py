"""Offline W&B logging on a tiny synthdrive run: panels every step, test panels per
domain, summary metrics, and the run finished (next job gets its own run)."""
import json
from pathlib import Path

import pytest

pytest.importorskip("wandb")

TINY = ["data.num_source=16", "data.num_generated=16", "data.num_test=4", "data.height=64", "data.width=128",
        "data.batch_size=2", "data.eval_batch_size=4", "trainer=debug"]


def _cfg(tmp_path, extra=()):
    from omegaconf import open_dict

    from tests.integration.test_configs import compose_cfg

    cfg = compose_cfg([*TINY, "logger=wandb", "callbacks=wandb", "callbacks.wandb_panels.every_n_steps=1",
                       "callbacks.wandb_panels.max_images=1", *extra])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    return cfg


def read_wandb_records(path):
    """The protobuf ``Record``s of an offline ``run-*.wandb`` file (LevelDB-style log:
    7-byte header, 32 KiB blocks, chunk header crc32/len/type). The W&B service process
    writes the file; ``wandb.teardown()`` shuts it down first, so the file is complete even
    when the service lags behind (seen on a loaded 2-core machine)."""
    import struct

    import wandb

    wandb.teardown()

    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B transaction log"
    pos, block, buf = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        buf += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST chunk: a complete record
            record = pb.Record()
            record.ParseFromString(buf)
            buf = b""
            yield record


def read_wandb_log(path):
    """History keys and summary of an offline ``run-*.wandb`` file."""
    history, summary = set(), {}
    for record in read_wandb_records(path):
        kind_name = record.WhichOneof("record_type")
        if kind_name == "history":
            history |= {"/".join(i.nested_key) or i.key for i in record.history.item}
        elif kind_name == "summary":
            summary.update({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.summary.update})
    return history, summary


def read_wandb_run(path):
    """(run id, display name, group) of the last ``run`` record of an offline run file."""
    runs = [r.run for r in read_wandb_records(path) if r.WhichOneof("record_type") == "run"]
    assert runs, f"no run record in {path}"
    return runs[-1].run_id, runs[-1].display_name, runs[-1].run_group


def test_offline_run_logs_panels_and_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-env"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    from flexseg.train import train

    wandb.teardown()  # isolate from W&B state other tests of the session may have left
    results = train(_cfg(tmp_path))
    assert wandb.run is None, "WandbFinish must finish the run at the end of test"
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "wandb").iterdir())
    history, summary = read_wandb_log(next(runs[0].glob("run-*.wandb")))
    assert summary["test/clear/miou"] == pytest.approx(results["miou"]["clear"])
    assert {"train/loss", "test/fog/boundary_acc", "flex/has_threshold"} <= history
    for panel in ("segmentation", "boundary_bands", "entropy", "ube_weight"):
        assert f"train_panels/{panel}/_type" in history
        for domain in ("clear", "fog", "night", "rain", "snow"):
            assert f"test_panels/{domain}/{panel}/_type" in history
    assert summary["trainer/global_step"] == 2
    media = runs[0] / "files" / "media" / "images"
    masks = list((media / "mask").rglob("*.mask.png"))
    # per logged batch: GT + prediction + bands masks; 2 training steps + 5 test domains
    assert len(masks) == 3 * (2 + 5), len(masks)
    images = [p for p in media.rglob("*.png") if "mask" not in p.relative_to(media).parts]
    assert len(images) == 4 * (2 + 5), len(images)


def test_panels_are_a_noop_without_wandb(tmp_path):
    from flexseg.train import train

    cfg = _cfg(tmp_path)
    from omegaconf import open_dict

    with open_dict(cfg):
        del cfg.logger["wandb"]  # CSV only, the W&B callbacks stay
    train(cfg)
    assert not (tmp_path / "wandb").exists()
    assert (tmp_path / "csv" / "metrics.csv").is_file()


def test_panel_arrays_shapes():
    import torch

    from flexseg.build import build_module
    from flexseg.callbacks import IGNORE_MASK_ID, panel_arrays
    from tests.integration.test_configs import compose_cfg

    module = build_module(compose_cfg([*TINY]))
    images = torch.randint(0, 256, (2, 3, 64, 128), dtype=torch.uint8)
    labels = torch.randint(0, 19, (2, 64, 128))
    labels[:, :4] = 255
    module.train()
    arr = panel_arrays(module, images, labels)
    assert module.training, "training mode is restored"
    assert arr["image"].shape == (2, 64, 128, 3) and arr["pred"].shape == (2, 64, 128)
    assert (arr["label"][:, :4] == IGNORE_MASK_ID).all() and arr["label"].max() == IGNORE_MASK_ID
    assert set(map(int, torch.from_numpy(arr["bands"]).unique())) <= {0, 1, 2, 3}
    w = arr["ube_weight"]
    assert (w[:, :4] == 0).all() and w.max() <= 4.0 + 1e-5 and w[:, 4:].min() >= 1.0
    assert (arr["entropy"] >= 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("callbacks", ["default", "wandb"])
def test_multirun_jobs_are_separate_wandb_runs(tmp_path, callbacks):
    """``-m seed=0,1 logger=wandb`` with and without ``callbacks=wandb`` (WandbFinish):
    two W&B runs, one per job, named after the seed, each with its own test metrics."""
    import os
    import subprocess
    import sys

    sweep = tmp_path / "sweep"
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path / "wandb-env"),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "flexseg.train", "-m", "seed=0,1", "logger=wandb", *TINY,
           f"hydra.sweep.dir={sweep}", "extras.print_config=false", f"callbacks={callbacks}"]
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(sweep.glob("*/wandb/offline-run-*"))
    assert [r.parent.parent.name for r in runs] == ["0", "1"], runs
    seen = {}
    for job, run in zip((0, 1), runs):
        run_id, name, group = read_wandb_run(next(run.glob("run-*.wandb")))
        suffix = f"-{job}" if callbacks == "wandb" else ""  # WandbFinish appends the job number
        assert name == f"train-seed{job}{suffix}" and group == "default"
        assert json.loads((sweep / str(job) / "wandb_run.json").read_text()) == {"wandb": run_id}
        _, summary = read_wandb_log(next(run.glob("run-*.wandb")))
        results = json.loads((sweep / str(job) / "results.json").read_text())
        for domain in ("clear", "fog", "night", "rain", "snow"):
            assert summary[f"test/{domain}/miou"] == pytest.approx(results["miou"][domain])
            assert f"test/{domain}/boundary_acc" in summary and f"test/{domain}/iou/road" in summary
        assert summary["test/mean"] == pytest.approx(results["mean"])
        seen[job] = run_id
    assert seen[0] != seen[1]


def test_resume_continues_the_same_wandb_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-env"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    from flexseg.train import train

    wandb.teardown()
    from omegaconf import open_dict

    first = _cfg(tmp_path, ["test=false"])
    with open_dict(first):
        del first.callbacks["wandb_finish"], first.callbacks["wandb_panels"]  # lifecycle without callbacks=wandb
    train(first)
    assert wandb.run is None, "train() finishes its W&B run"
    (run_id,) = json.loads((tmp_path / "wandb_run.json").read_text()).values()
    second = _cfg(tmp_path, ["test=false", "resume=true", "trainer.max_steps=4"])
    with open_dict(second):
        del second.callbacks["wandb_finish"], second.callbacks["wandb_panels"]
    train(second)
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(r.name.endswith(f"-{run_id}") for r in runs), runs
    ids = {read_wandb_run(next(r.glob("run-*.wandb")))[0] for r in runs}
    assert ids == {run_id}
    records = read_wandb_records(next(runs[1].glob("run-*.wandb")))
    steps = [json.loads(i.value_json) for r in records if r.WhichOneof("record_type") == "history"
             for i in r.history.item if ("/".join(i.nested_key) or i.key) == "trainer/global_step"]
    assert steps and min(steps) == 2 and max(steps) == 3, steps  # continues at step 2, not 0
    # the CSV logs of the first part survive the resume (Lightning's CSVLogger deletes metrics.csv)
    import csv

    def csv_steps(path):
        return {int(r["step"]) for r in csv.DictReader(path.open()) if r.get("train/loss")}

    assert csv_steps(tmp_path / "csv" / "metrics.until_step2.csv") == {0, 1}
    assert csv_steps(tmp_path / "csv" / "metrics.csv") == {2, 3}
    new = _cfg(tmp_path / "other", ["test=false"])
    with open_dict(new):
        del new.callbacks["wandb_finish"], new.callbacks["wandb_panels"]
    train(new)
    (other_id,) = json.loads((tmp_path / "other" / "wandb_run.json").read_text()).values()
    assert other_id != run_id


def test_eval_logs_to_wandb_when_asked(tmp_path, monkeypatch):
    """``flexseg.eval ckpt_path=... logger=wandb``: its own W&B run, metrics in the summary."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-env"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb
    from omegaconf import open_dict

    from flexseg.eval import evaluate
    from flexseg.train import train
    from tests.integration.test_configs import compose_cfg

    wandb.teardown()
    cfg = compose_cfg([*TINY, "test=false"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "train")
    train(cfg)
    ecfg = compose_cfg([*TINY, f"ckpt_path={tmp_path / 'train' / 'checkpoints' / 'last.ckpt'}", "logger=wandb"],
                       name="eval")
    with open_dict(ecfg):
        ecfg.paths.output_dir = str(tmp_path / "eval")
    results = evaluate(ecfg)
    assert wandb.run is None
    runs = list((tmp_path / "eval" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    run_file = next(runs[0].glob("run-*.wandb"))
    assert read_wandb_run(run_file)[1] == "eval-seed0"
    _, summary = read_wandb_log(run_file)
    for domain, miou in results["miou"].items():
        assert summary[f"test/{domain}/miou"] == pytest.approx(miou)
        assert f"test/{domain}/interior_acc" in summary
    assert summary["test/mean"] == pytest.approx(results["averages"]["mean"])
    assert summary["test/adverse"] == pytest.approx(results["averages"]["adverse"])
    assert not (tmp_path / "train" / "wandb").exists()
