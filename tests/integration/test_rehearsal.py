"""Rehearsal of the paper path on data shaped like the real datasets.

A small tree in every published layout at the real resolutions and encodings
(tests/data/fixtures.py ``write_rehearsal``: GTA 1914×1052 palette labels, DGInStyle / ALDM
512², Cityscapes 2048×1024, ACDC and Dark Zurich 1920×1080, BDD100K 1280×720 JPEG,
Mapillary 4:3 and 16:9 with v1.2 labels), then every main paper recipe (``+experiment=``)
trains 2 steps with its own data pipeline and model geometry — a MiT-B0 encoder, narrow
heads and no pretrained file keep it CPU-sized — on batches that mix GTA and generated
images (checked), and evaluates the five targets with the paper protocol (slide
inference at the recipe's test resolution, full-resolution labels); the results carry the
paper's columns. ``prepare`` runs first where the recipe needs it (class statistics for
HRDA's rare-class sampling, the rare-class subset list of the DAFormer setting).
The ablation recipes are daformer_flex with a sweep: their composition is checked here
(same data as daformer_flex), their runs in tests/integration/test_experiments.py.
The foundation-model recipes (``vfm_gta``, ``vfm_dginstyle``, ``vfm_flex``; docs/vfm.md) train
2 steps the same way with a 4-block random-init ViT-S at patch 16 and Rein; ``vfm_flex``
evaluates the five targets with the paper protocol, then its checkpoint with the Rein
family's (``data=real_targets_rein``: BDD100K native, Mapillary halved with their label table).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import ClassVar

import lightning as L
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from tests.data.fixtures import REAL_SIZES, write_rehearsal

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
MAIN = ["daformer_dginstyle", "daformer_flex", "aldm_flex", "hrda_dginstyle", "hrda_flex"]
#: evaluated on the five targets; the others share their test protocol (same model geometry
#: and targets) and only train, to keep the CI budget (HRDA's native-resolution slide
#: inference is the costly part)
EVALUATED = {"daformer_flex", "hrda_flex"}
ABLATIONS = ["ablation_modules", "ablation_has_schedule", "ablation_volume"]
VFM = ["vfm_gta", "vfm_dginstyle", "vfm_flex"]
#: a CPU-sized foundation-model segmenter: ViT-S/14 geometry cut to 4 blocks of width 64, no
#: weight file, patch 16 and Rein as the recipe; batch 2 as the MiT rehearsals
VFM_TINY = ["model.encoder=vit_small_patch14_dinov2", "++model.encoder_kwargs={depth:4,embed_dim:64,num_heads:2}",
            "data.batch_size=2"]
PAPER_COLUMNS = ["ACDC", "DZ", "CS", "BDD", "MV", "Avg2", "Avg3", "Avg5"]
TARGETS = ["acdc", "dark_zurich", "cityscapes", "bdd100k", "mapillary"]


class BatchSpy(L.Callback):
    """Records the domains and image size of every training batch (class attribute)."""

    batches: ClassVar[list[tuple[list[str], tuple[int, ...]]]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        BatchSpy.batches.append((list(batch["domain"]), tuple(batch["image"].shape)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from flexseg.data.prepare import main as prepare

    root = tmp_path_factory.mktemp("rehearsal")
    write_rehearsal(root, generated_folders=("dginstyle", "aldm"))
    # the DAFormer setting's rare-class subset (here 2 frames; the paper's 6000) and, with it,
    # the class statistics HRDA's rare-class sampling reads; train-id label caches
    assert prepare(["gta", "--root", str(root / "gta"), "--cache", "--subset", "2", "--workers", "1",
                    "--subset-file", str(root / "gta" / "gta6000_rcs1e-2.txt")]) == 0
    assert (root / "gta" / "sample_class_stats.json").is_file()
    return root


def mixing_seed(cfg) -> int:
    """The first seed whose first training batch mixes GTA and generated images, found
    with the recipe's own datamodule and batch sampler (nothing is loaded)."""
    from flexseg.build import build_datamodule
    from flexseg.data.datamodule import SeededBatches

    for seed in range(50):
        with open_dict(cfg):
            cfg.seed = seed
        dm = build_datamodule(cfg)
        first = next(iter(SeededBatches(dm.sampler, dm.seed, dm.rcs)))
        if {dm.train_set.source_of(item[0]) for item in first} == {"gta", "generated"}:
            return seed
    raise AssertionError("no seed < 50 mixes GTA and generated images in the first batch")


def recipe_cfg(name: str, data_dir: Path, out: Path, extra=()):
    hrda = name.startswith("hrda")
    encoder = VFM_TINY if name.startswith("vfm") else ["model.encoder=mit_b0"]
    overrides = [
        f"+experiment={name}", f"paths.data_dir={data_dir}", "trainer=cpu", "trainer.max_steps=2", "logger=csv",
        "callbacks=default", "+callbacks.spy._target_=tests.integration.test_rehearsal.BatchSpy",
        *encoder, "model.pretrained=null", "model.embed_dim=32",
        *(["model.attention_embed_dim=32"] if hrda else []),
        *([] if name == "vfm_gta" else ["data.num_generated=null"]),   # vfm_gta: GTA only
        "data.num_workers=0", "data.targets.acdc.conditions=[night]", *extra,
    ]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(out)
    return cfg


@pytest.mark.parametrize("name", MAIN)
def test_recipe_trains_and_evaluates_like_the_paper(name, data_dir, tmp_path):
    from flexseg.train import train

    hrda = name.startswith("hrda")
    cfg = recipe_cfg(name, data_dir, tmp_path)
    # the recipe's own data pipeline and geometry
    assert cfg.data.rcs.enabled == hrda
    assert cfg.data.train_sets.gta.split_file == (None if hrda else "gta6000_rcs1e-2.txt")
    crop = 1024 if hrda else 512
    assert list(cfg.data.train_transforms.gta.crop_size) == [crop, crop]
    assert cfg.model.slide_window[0] == crop

    if name == "aldm_flex":
        assert Path(cfg.data.train_sets.generated.root) == data_dir / "aldm"
    with open_dict(cfg):
        cfg.seed = mixing_seed(cfg)
        cfg.test = name in EVALUATED

    BatchSpy.batches = []
    summary = train(cfg)
    batches = BatchSpy.batches
    assert len(batches) == 2 and all(shape == (2, 3, crop, crop) for _, shape in batches)
    assert set(batches[0][0]) == {"gta", "generated"}, batches    # a mixed batch went through the model
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    if name not in EVALUATED:
        return

    check_paper_results(tmp_path, summary)


def check_paper_results(run_dir: Path, summary: dict) -> None:
    """results.json / results.md of a five-target test: the paper's columns and averages."""
    results = json.loads((run_dir / "results.json").read_text())
    assert list(results["miou"]) == TARGETS
    assert list(results["averages"]) == ["Avg2", "Avg3", "Avg5"]
    assert results["mean"] == pytest.approx(summary["mean"])
    for key, members in {"Avg2": ["acdc", "dark_zurich"], "Avg3": ["cityscapes", "bdd100k", "mapillary"],
                         "Avg5": TARGETS}.items():
        vals = [results["miou"][d] for d in members]
        assert not any(math.isnan(v) for v in vals)
        assert results["averages"][key] == pytest.approx(sum(vals) / len(vals))
    table = (run_dir / "results.md").read_text()
    assert "| " + " | ".join(PAPER_COLUMNS) + " |" in table


@pytest.mark.parametrize("name", VFM)
def test_vfm_recipe_trains_like_the_rein_family(name, data_dir, tmp_path):
    """The VFM recipe's own data pipeline (every GTA frame, short side 256…1024, 512 crops; the
    generated set mixed in for vfm_dginstyle / vfm_flex) through model=vfm (Rein, patch 16)."""
    from flexseg.train import train

    cfg = recipe_cfg(name, data_dir, tmp_path)
    assert cfg.model._target_ == "flexseg.models.vfm.VFMSegmenter" and cfg.model.tuning == "rein"
    assert cfg.model.patch_size == 16 and list(cfg.model.slide_window) == [512, 512]
    assert cfg.data.train_sets.gta.split_file is None and cfg.data.train_transforms.gta.max_size == 2048
    generated = name != "vfm_gta"
    with open_dict(cfg):
        if generated:
            cfg.seed = mixing_seed(cfg)
        cfg.test = name == "vfm_flex"

    BatchSpy.batches = []
    summary = train(cfg)
    batches = BatchSpy.batches
    assert len(batches) == 2 and all(shape == (2, 3, 512, 512) for _, shape in batches)
    assert set(batches[0][0]) == ({"gta", "generated"} if generated else {"gta"}), batches
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    if name != "vfm_flex":
        return
    check_paper_results(tmp_path, summary)
    paper = json.loads((tmp_path / "results.json").read_text())["miou"]

    # the same checkpoint under the Rein family's test protocol: one override (data=real_targets_rein)
    from flexseg.build import build_datamodule
    from flexseg.eval import evaluate
    from flexseg.utils.ckpt_config import apply_checkpoint_config

    overrides = [f"ckpt_path={ckpt}", "data=real_targets_rein", f"paths.data_dir={data_dir}", "trainer=cpu",
                 "logger=none", "data.num_workers=0", "data.targets.acdc.conditions=[night]"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        ecfg = compose(config_name="eval", overrides=overrides)
    with open_dict(ecfg):
        ecfg.paths.root_dir = str(ROOT)
        ecfg.paths.output_dir = str(tmp_path / "rein")
    apply_checkpoint_config(ecfg, overrides=overrides)
    assert ecfg.model._target_ == "flexseg.models.vfm.VFMSegmenter"   # the trained network, from the checkpoint
    dm = build_datamodule(ecfg)
    bdd = dm.targets["bdd100k"][0]
    assert tuple(bdd["image"].shape[-2:]) == (720, 1280) == tuple(bdd["label"].shape)   # native, not 910×512
    for i, (w, h) in enumerate(REAL_SIZES["mapillary"]):   # halved labels, image fit to (1024, 512)
        mv = dm.targets["mapillary"][i]
        assert tuple(mv["label"].shape) == (h // 2, w // 2) and min(mv["image"].shape[-2:]) == 512
    rein = evaluate(ecfg)
    check_paper_results(tmp_path / "rein", rein)
    assert rein["miou"]["cityscapes"] == pytest.approx(paper["cityscapes"], abs=1e-9)   # same image size and windows


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablation_recipes_use_the_daformer_flex_data(name, data_dir, tmp_path):
    base = recipe_cfg("daformer_flex", data_dir, tmp_path)
    cfg = recipe_cfg(name, data_dir, tmp_path)
    assert cfg.data == base.data


def test_rehearsal_tree_has_the_published_resolutions(data_dir):
    from flexseg.data.datasets import build
    from flexseg.data.datasets.base import image_size

    gta = build("gta", data_dir / "gta")
    assert image_size(gta.image_paths[0]) == REAL_SIZES["gta"]
    assert image_size(build("generated", data_dir / "dginstyle").image_paths[0]) == REAL_SIZES["generated"]
    mv = build("mapillary", data_dir / "mapillary", "validation")
    assert [image_size(p) for p in mv.image_paths] == REAL_SIZES["mapillary"]
    subset = (data_dir / "gta" / "gta6000_rcs1e-2.txt").read_text().splitlines()
    assert len([line for line in subset if not line.startswith("#")]) == 2
