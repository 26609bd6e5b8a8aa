"""flexseg.predict on a folder of odd-size images with an (untrained) Lightning checkpoint."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SIZES = [(37, 51), (64, 100), (33, 130)]  # (H, W)


def predict_cfg(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="predict", overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = "/tmp/flexseg-predict"
    return cfg


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained DAFormer/MiT-B0 SegModule saved by a Lightning trainer."""
    import lightning as L

    from flexseg.build import build_module

    path = tmp_path_factory.mktemp("ckpt") / "untrained.ckpt"
    module = build_module(predict_cfg(["ckpt_path=x", "input=x", "output=x"]))
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, max_steps=1)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k, (h, w) in enumerate(SIZES):
        ext = "jpg" if k == 1 else "png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"img{k}.{ext}")
    Image.fromarray(rng.integers(0, 256, (40, 45), dtype=np.uint8)).save(folder / "sub" / "gray.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_predict_writes_masks_and_overlays_at_input_size(checkpoint, images, tmp_path):
    from flexseg.predict import predict

    out = tmp_path / "out"
    written = predict(predict_cfg([f"ckpt_path={checkpoint}", f"input={images}", f"output={out}",
                                   "write_trainid=true", "progress=false", "device=cpu"]))
    assert len(written) == 3 * len(SIZES)
    for k, (h, w) in enumerate(SIZES):
        for kind in ("mask", "overlay", "trainid"):
            with Image.open(out / f"img{k}_{kind}.png") as im:
                assert im.size == (w, h), (kind, im.size)
        trainid = np.asarray(Image.open(out / f"img{k}_trainid.png"))
        assert trainid.max() < 19
    assert not (out / "sub").exists()  # recursive=false


def test_predict_recursive_mirrors_subfolders(checkpoint, images, tmp_path):
    from flexseg.predict import predict

    out = tmp_path / "out"
    predict(predict_cfg([f"ckpt_path={checkpoint}", f"input={images}", f"output={out}", "recursive=true",
                         "progress=false", "device=cpu", "fit=[64,32]"]))
    with Image.open(out / "sub" / "gray_overlay.png") as im:
        assert im.size == (45, 40) and im.mode == "RGB"
    assert not (out / "img0_trainid.png").exists()


def test_predict_errors_name_the_problem(checkpoint, images, tmp_path):
    from flexseg.predict import PredictError, find_images, predict

    with pytest.raises(PredictError, match="does not exist"):
        find_images(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PredictError, match="no .* image in"):
        find_images(empty)
    bad = images / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    cfg = predict_cfg([f"ckpt_path={checkpoint}", f"input={images}", f"output={tmp_path / 'o'}", "progress=false",
                       "device=cpu"])
    with pytest.raises(PredictError, match="broken.png"):
        predict(cfg)
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        predict(predict_cfg([f"ckpt_path={tmp_path / 'nope.ckpt'}", f"input={images}", f"output={tmp_path}"]))


@pytest.mark.slow
def test_cli(checkpoint, images, tmp_path):
    out = tmp_path / "cli-out"
    cmd = [sys.executable, "-m", "flexseg.predict", f"ckpt_path={checkpoint}", f"input={images}", f"output={out}",
           f"hydra.run.dir={tmp_path / 'run'}", "device=cpu"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.glob("*_mask.png")) == [f"img{k}_mask.png" for k in range(len(SIZES))]


def test_predict_cityscapes_and_acdc_submission_files(checkpoint, tmp_path):
    """format=cityscapes / acdc: label-id PNGs only, server file names, folders mirrored."""
    from flexseg.predict import PredictError, predict, predict_image
    from flexseg.submission import TRAINID_TO_LABELID

    rng = np.random.default_rng(1)
    cs = tmp_path / "cs" / "test"
    (cs / "berlin").mkdir(parents=True)
    (cs / "bonn").mkdir()
    Image.fromarray(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)).save(cs / "berlin" / "berlin_000000_000019_leftImg8bit.png")
    Image.fromarray(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)).save(cs / "bonn" / "bonn_000004_000019_leftImg8bit.png")
    out = tmp_path / "cs_out"
    written = predict(predict_cfg([f"ckpt_path={checkpoint}", f"input={cs}", f"output={out}", "recursive=true",
                                   "format=cityscapes", "device=cpu", "progress=false"]))
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "berlin/berlin_000000_000019_leftImg8bit.png", "bonn/bonn_000004_000019_leftImg8bit.png"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        p.relative_to(out).as_posix() for p in written)  # nothing else (no mask/overlay)
    from flexseg.predict import build_predictor

    module = build_predictor(predict_cfg([f"ckpt_path={checkpoint}", "input=x", "output=x"]))
    image = np.asarray(Image.open(cs / "berlin" / "berlin_000000_000019_leftImg8bit.png").convert("RGB"))
    expected = np.asarray(TRAINID_TO_LABELID, dtype=np.uint8)[predict_image(module, image)]
    got = np.asarray(Image.open(written[0]))
    assert got.dtype == np.uint8 and got.shape == (32, 64) and (got == expected).all()

    acdc = tmp_path / "acdc" / "night" / "test" / "GOPR0355"
    acdc.mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(acdc / "GOPR0355_frame_000138_rgb_anon.png")
    out = tmp_path / "acdc_out"
    written = predict(predict_cfg([f"ckpt_path={checkpoint}", f"input={tmp_path / 'acdc'}", f"output={out}",
                                   "recursive=true", "format=acdc", "device=cpu", "progress=false"]))
    assert [p.relative_to(out).as_posix() for p in written] == [
        "night/test/GOPR0355/GOPR0355_frame_000138_predlabelIds.png"]
    assert set(np.unique(np.asarray(Image.open(written[0])))) <= set(TRAINID_TO_LABELID)

    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(acdc / "holiday.png")
    with pytest.raises(PredictError, match="holiday"):
        predict(predict_cfg([f"ckpt_path={checkpoint}", f"input={tmp_path / 'acdc'}", f"output={tmp_path / 'x'}",
                             "recursive=true", "format=acdc", "device=cpu", "progress=false"]))
    with pytest.raises(PredictError, match="format=kitti"):
        predict(predict_cfg([f"ckpt_path={checkpoint}", f"input={cs}", f"output={tmp_path / 'y'}", "recursive=true",
                             "format=kitti", "device=cpu", "progress=false"]))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
