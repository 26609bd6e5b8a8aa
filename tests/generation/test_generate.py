"""``python -m flexseg.generate`` end to end on the CPU with tiny random diffusion components.

Two DDIM steps, 64² crops of a tiny GTA tree (tests/data/fixtures.py): layout, labels equal
to the source crops, manifest, determinism, resume after an interruption, sharding, bad
inputs, fusion on/off, the style U-Net, and a training run reading the generated folder.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from omegaconf import open_dict
from PIL import Image

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from flexseg.data.datasets import build  # noqa: E402
from flexseg.data.datasets.base import DatasetLayoutError  # noqa: E402
from flexseg.generation import store  # noqa: E402
from flexseg.generation.models import ModelFolderError  # noqa: E402
from tests.data.fixtures import write_gta  # noqa: E402
from tests.generation.tiny_models import write_tiny_models  # noqa: E402
from tests.integration.test_configs import compose_cfg  # noqa: E402

RES = 64
NUM = 4


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    tree = write_gta(root / "gta", n=3, size=(96, 80))
    models = write_tiny_models(root / "models")
    return {"root": root, "tree": tree, **models}


def cfg_for(world, out: Path, *extra: str):
    cfg = compose_cfg([f"source.root={world['root'] / 'gta'}", f"model.base={world['base']}",
                       f"model.controlnet={world['controlnet']}", f"output_dir={out}", f"num_images={NUM}",
                       "seed=5", "steps=2", f"resolution={RES}", "fusion.enabled=false", "crops.min_pixels=20",
                       "preview=3", "manifest_every=1", "device=cpu", *extra], name="generate")
    return cfg


def run(world, out: Path, *extra: str) -> dict:
    from flexseg.generate import generate

    return generate(cfg_for(world, out, *extra))


def files(out: Path) -> dict[str, bytes]:
    return {f"{d}/{p.name}": p.read_bytes() for d in ("images", "labels") for p in sorted((out / d).iterdir())}


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def base_run(world):
    out = world["root"] / "out_base"
    summary = run(world, out)
    return out, summary


def test_layout_labels_and_manifest(world, base_run):
    out, summary = base_run
    assert summary["generated"] == NUM and summary["in_manifest"] == NUM
    recs = manifest(out)
    assert [r["index"] for r in recs] == list(range(NUM)) and len({r["name"] for r in recs}) == NUM
    expected = {Path(k).stem: v for k, v in world["tree"].expected.items()}
    for r in recs:
        img = Image.open(out / "images" / f"{r['name']}.png")
        lab = Image.open(out / "labels" / f"{r['name']}_labelTrainIds.png")
        assert img.mode == "RGB" and img.size == (RES, RES) and lab.size == (RES, RES)
        x1, y1, x2, y2 = r["crop_box"]
        assert (x2 - x1, y2 - y1) == (RES, RES)
        src = expected[r["source_frame"]][y1:y2, x1:x2]
        assert np.array_equal(np.asarray(lab), src)  # the source crop's train ids, untouched
        assert (src == r["sampled_class"]).any()
        names = [n for n in r["prompt"].removeprefix("A city street scene with ").split(",")[0].split(" ")]
        assert len(r["prompt"]) > 0 and r["sampled_class_name"].split(" ")[0] in names
        if r["weather"] is None:
            assert "weather" not in r["prompt"]
        else:
            assert r["prompt"].endswith(f", in {r['weather']} weather.")
        assert r["steps"] == 2 and r["run_seed"] == 5 and r["fusion"] is False
        assert r["models"] == {"base": "sd", "controlnet": "controlnet", "unet": None}
        assert r["name"].endswith(r["source_frame"])
    ds = build("generated", out)
    assert len(ds) == NUM
    for i in range(NUM):
        s = ds[i]
        name = Path(s["path"]).stem
        assert s["image"].shape == (3, RES, RES)
        assert np.array_equal(s["label"].numpy(), np.asarray(Image.open(out / "labels" / f"{name}_labelTrainIds.png")))
    assert Image.open(out / "preview.png").size == (3 * 256, 2 * 256)
    assert json.loads((out / "generation.json").read_text())["seed"] == 5


def test_deterministic_and_resume_after_interruption(world, base_run, monkeypatch):
    out_a, _ = base_run
    out = world["root"] / "out_resume"
    real = store.write_sample
    calls = {"n": 0}

    def interrupted(o, name, image, label, record):
        calls["n"] += 1
        if calls["n"] == 3:  # killed after the image of the third sample was written, before its meta
            store.atomic_save_png(store.paths(o, name)["image"], image)
            (o / "images" / f".{name}.png.999.tmp").write_bytes(b"half")  # a stray temporary file
            raise KeyboardInterrupt
        real(o, name, image, label, record)

    monkeypatch.setattr(store, "write_sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(world, out)
    assert len(manifest(out)) == 2  # only the finished samples, each with both files
    for r in manifest(out):
        assert store.is_done(out, r["name"])
    assert len(build("generated", out, strict=False)) >= 2
    monkeypatch.setattr(store, "write_sample", real)
    summary = run(world, out)
    assert summary["generated"] == 2 and summary["skipped"] == 2
    assert files(out) == files(out_a)  # bitwise the same images and labels as an uninterrupted run
    assert manifest(out) == manifest(out_a)
    again = run(world, out)
    assert again["generated"] == 0 and again["skipped"] == NUM


def test_shards_union_equals_unsharded(world, base_run):
    out_a, _ = base_run
    out = world["root"] / "out_shards"
    generated = [run(world, out, f"shard={s}", "num_shards=3")["generated"] for s in range(3)]
    assert generated == [1, 1, 2]  # disjoint blocks: nothing generated twice
    assert files(out) == files(out_a)
    assert manifest(out) == manifest(out_a)


def test_other_seed_changes_plan(world, base_run):
    out_a, _ = base_run
    out = world["root"] / "out_seed"
    run(world, out, "seed=6", "num_images=2")
    assert [r["seed"] for r in manifest(out)] != [r["seed"] for r in manifest(out_a)[:2]]
    with pytest.raises(store.OutputMismatchError, match="seed"):
        run(world, out, "seed=7", "num_images=2")


@pytest.mark.slow
def test_fusion_and_style_unet(world, base_run):
    out_a, _ = base_run
    out = world["root"] / "out_fusion"
    run(world, out, "fusion.enabled=true", "fusion.min_component_area=6", "num_images=2")
    out_u = world["root"] / "out_unet"
    run(world, out_u, f"model.unet={world['unet']}", "num_images=2")
    plain, fused, styled = manifest(out_a)[:2], manifest(out), manifest(out_u)
    for a, b, c in zip(plain, fused, styled):
        assert a["name"] == b["name"] == c["name"] and a["crop_box"] == b["crop_box"] and a["prompt"] == b["prompt"]
        assert b["fusion"] is True and c["models"]["unet"] == "style_unet"
        la, lb = (np.asarray(Image.open(o / "labels" / f"{a['name']}_labelTrainIds.png")) for o in (out_a, out))
        assert np.array_equal(la, lb)
        ia, ib, ic = (np.asarray(Image.open(o / "images" / f"{a['name']}.png")).astype(int) for o in (out_a, out, out_u))
        assert ib.shape == (RES, RES, 3) and np.abs(ia - ib).mean() > 0.5 and np.abs(ia - ic).mean() > 0.5


def test_bad_inputs(world, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ModelFolderError, match=str(tmp_path / "nope")):
        run(world, out, f"model.base={tmp_path / 'nope'}")
    broken = tmp_path / "sd_broken"
    shutil.copytree(world["base"], broken)
    for f in (broken / "vae").glob("diffusion_pytorch_model*"):
        f.unlink()
    with pytest.raises(ModelFolderError, match=r"vae.*incomplete|incomplete.*diffusion_pytorch_model"):
        run(world, out, f"model.base={broken}")
    cn3 = tmp_path / "cn3"
    shutil.copytree(world["controlnet"], cn3)
    config = json.loads((cn3 / "config.json").read_text())
    config["conditioning_channels"] = 3
    (cn3 / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match="conditioning_channels=3"):
        run(world, out, f"model.controlnet={cn3}")
    gta = tmp_path / "gta_nolabels"
    shutil.copytree(world["root"] / "gta" / "images", gta / "images")
    with pytest.raises(DatasetLayoutError, match="labels"):
        run(world, out, f"source.root={gta}")
    from flexseg.utils.config import ConfigError

    with pytest.raises(ConfigError, match="resolution"):
        run(world, out, "resolution=60")
    with pytest.raises(ConfigError, match="shard"):
        run(world, out, "shard=3", "num_shards=3")
    with pytest.raises(ConfigError, match="precision"):
        run(world, out, "precision=fp8")
    with pytest.raises(ConfigError, match="view_batch"):
        run(world, out, "fusion.view_batch=0")
    assert not (out / "images").exists()


def test_generate_extra_is_imported_lazily():
    import subprocess
    import sys

    code = ("import sys\n"
            "import flexseg, flexseg.generate, flexseg.generation.sampler, flexseg.analysis.alignment\n"
            "print(sorted(m for m in ('diffusers', 'transformers', 'accelerate') if m in sys.modules))\n"
            "from flexseg.generation import require_generate_extra\n"
            "try:\n    require_generate_extra('flexseg_no_such_module')\nexcept ImportError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "[]"
    assert "pip install 'flexseg[generate]'" in proc.stdout and "flexseg_no_such_module" in proc.stdout


@pytest.mark.slow
def test_training_reads_generated_folder(world, base_run, tmp_path):
    from flexseg.train import train
    from tests.data.fixtures import write_all

    out, _ = base_run
    data_dir = tmp_path / "data"
    write_all(data_dir)
    shutil.rmtree(data_dir / "gta")
    shutil.copytree(world["root"] / "gta", data_dir / "gta")
    cfg = compose_cfg(["data=gta_dginstyle", "data.train_sets.gta.split_file=null", f"paths.data_dir={data_dir}",
                       f"data.generated_root={out}",
                       f"data.num_generated={NUM}", "data.num_workers=0", "trainer=debug", "test=false",
                       "data.train_transforms.gta.resize=[128,72]", f"data.train_transforms.gta.crop_size=[{RES},{RES}]",
                       "flex.has.enabled=false", "logger=csv"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    train(cfg)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
