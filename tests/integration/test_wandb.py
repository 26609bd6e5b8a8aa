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


def read_wandb_log(path):
    """History keys and summary of an offline ``run-*.wandb`` file (LevelDB-style log of
    protobuf ``Record``s: 7-byte header, 32 KiB blocks, chunk header crc32/len/type)."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B transaction log"
    pos, block, buf = 7, 32768, b""
    history, summary = set(), {}
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
            kind_name = record.WhichOneof("record_type")
            if kind_name == "history":
                history |= {"/".join(i.nested_key) or i.key for i in record.history.item}
            elif kind_name == "summary":
                summary.update({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.summary.update})
    return history, summary


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
