"""Every ``conf/experiment/*`` recipe composes with ``+experiment=NAME``, keeps the paper
recipe (the foundation-model recipes: the Rein family's, docs/vfm.md), and runs 2 steps on
synthdrive (``data=synthdrive model=*_mitb0``; VFM recipes ``model=vfm_small``, 4 blocks); without
data the paper recipe stops at once naming the missing folder; a multirun of an
ablation produces one run per grid point that ``flexseg.report`` tabulates."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
PAPER = ["hrda_flex", "hrda_dginstyle", "daformer_flex", "daformer_dginstyle", "ablation_modules",
         "ablation_has_schedule", "ablation_volume", "aldm_flex"]
TINY = ["data.num_source=16", "data.num_generated=16", "data.num_test=4", "data.height=64", "data.width=128",
        "data.batch_size=2", "data.eval_batch_size=4", "trainer=debug", "trainer.max_steps=2", "logger=csv"]
#: the foundation-model recipes (DINOv2-L + Rein + DAFormer head, docs/vfm.md)
VFM = ["vfm_gta", "vfm_dginstyle", "vfm_flex"]
#: a 4-block random-init ViT for the VFM recipes on a CPU
VFM_TINY = ["model=vfm_small", "++model.encoder_kwargs={depth:4,embed_dim:64,num_heads:2}", "model.embed_dim=16"]


def compose_experiment(name, overrides=(), output_dir="/tmp/flexseg-compose", hydra_node=False):
    """Compose ``train`` with ``+experiment=name``; paths resolved as in a run."""
    from flexseg.utils.resolvers import register_resolvers

    register_resolvers()  # ${vfm_weights_file:...} of model=vfm (registered by flexseg.build in a run)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"+experiment={name}", *overrides], return_hydra_config=hydra_node)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(output_dir)
    return cfg


def synth_overrides(name):
    if name.startswith("vfm"):
        return ["data=synthdrive", *VFM_TINY, *TINY]
    model = "hrda_mitb0" if name.startswith("hrda") else "daformer_mitb0"
    return ["data=synthdrive", f"model={model}", *TINY]


def synth_cfg(name, output_dir):
    """The experiment on tiny synthdrive (2 steps, CSV)."""
    return compose_experiment(name, synth_overrides(name), output_dir=output_dir)


def test_paper_experiments_exist():
    assert set(PAPER) <= set(EXPERIMENTS)
    for name in EXPERIMENTS:
        assert (CONF / "experiment" / f"{name}.yaml").read_text().startswith("# @package _global_")


@pytest.mark.parametrize("name", PAPER)
def test_paper_recipe(name):
    cfg = compose_experiment(name)
    assert cfg.experiment_name == name
    assert cfg.trainer.max_steps == 40000 and cfg.trainer.accelerator == "gpu"
    assert cfg.data.batch_size == 2
    assert cfg.optim.optimizer.lr == 6e-5 and cfg.optim.scheduler.warmup_steps == 1500
    assert cfg.optim.param_groups.head_lr_mult == 10.0
    assert cfg.model.encoder == "mit_b5" and str(cfg.model.pretrained).endswith("/mit_b5.pth")
    expected_model = "HRDA" if name.startswith("hrda") else "DAFormer"
    assert cfg.model._target_.endswith(expected_model)
    assert "wandb" in cfg.logger and "wandb_panels" in cfg.callbacks and "wandb_finish" in cfg.callbacks
    flex_on = not name.endswith("dginstyle")
    assert [cfg.flex[m].enabled for m in ("gap", "ube", "has")] == [flex_on] * 3
    if name == "aldm_flex":
        assert str(cfg.data.train_sets.generated.root).endswith("/aldm")
    if name == "ablation_volume":  # the swept key drives the generated set's size
        assert cfg.data.train_sets.generated.num_images == cfg.data.num_generated
    if name.startswith("hrda"):
        assert list(cfg.data.train_transforms.gta.crop_size) == [1024, 1024]
        assert list(cfg.data.target_transforms.cityscapes.fit) == [2048, 1024]


@pytest.mark.parametrize("name", VFM)
def test_vfm_recipe(name):
    """The Rein family's setting (w1oves/Rein rein_dinov2_mask2former_512x512_bs1x4.py) with
    the DAFormer head; FLEX on in vfm_flex only; paper test protocol by default."""
    cfg = compose_experiment(name)
    assert cfg.experiment_name == name
    assert cfg.trainer.max_steps == 40000 and cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "32-true"
    assert cfg.data.batch_size == 4 and cfg.tf32 is False
    m = cfg.model
    assert m._target_ == "flexseg.models.vfm.VFMSegmenter" and m.encoder == "vit_large_patch14_dinov2"
    assert str(m.pretrained).endswith("/pretrained/dinov2_vitl14_pretrain.pth")
    assert (m.tuning, m.head, m.patch_size, m.img_size) == ("rein", "daformer", 16, 512)
    assert list(m.slide_window) == [512, 512] and list(m.slide_stride) == [341, 341]
    o = cfg.optim
    assert o.optimizer.lr == 1e-4 and o.optimizer.weight_decay == 0.05 and list(o.optimizer.betas) == [0.9, 0.999]
    assert o.param_groups.head_lr_mult == 1.0 and o.scheduler.warmup_steps == 0 and o.scheduler.power == 0.9
    assert o.scheduler.min_lr_ratio == 0.0
    gta = cfg.data.train_transforms.gta
    assert gta.resize is None and gta.max_size == 2048 and list(gta.crop_size) == [512, 512]
    assert list(gta.short_sides) == [int(512 * x * 0.1) for x in range(5, 21)]  # Rein's scales
    assert gta.cat_max_ratio == 0.75 and gta.flip_p == 0.5 and gta.photometric is True
    assert cfg.data.train_sets.gta.split_file is None                          # every GTA frame
    assert set(cfg.data.train_sets) == ({"gta"} if name == "vfm_gta" else {"gta", "generated"})
    assert not cfg.data.get("rcs", {}).get("enabled", False)
    flex_on = name == "vfm_flex"
    assert [cfg.flex[k].enabled for k in ("gap", "ube", "has")] == [flex_on] * 3
    assert list(cfg.data.target_transforms.bdd100k.fit) == [1024, 512]          # the paper protocol
    assert "label_table" not in cfg.data.targets.mapillary


def test_vfm_optimizer_groups_follow_rein():
    """optim=adamw_vfm on model=vfm: one lr for all that trains; no decay on Rein's tokens
    and scale (Rein's keys learnable_tokens / reins.scale) and norms; decay on the rest."""
    from hydra.utils import instantiate

    cfg = compose_experiment("vfm_flex", ["model=vfm_small", "++model.encoder_kwargs={depth:4,embed_dim:32,num_heads:2}",
                                          "model.embed_dim=16"])
    net = instantiate(cfg.model)
    rule = instantiate(cfg.optim.param_groups)
    head_ids = {id(p) for p in net.head_parameters()}
    named = list(net.named_parameters())
    groups = rule([(n, p) for n, p in named if id(p) not in head_ids], [(n, p) for n, p in named if id(p) in head_ids],
                  lr=cfg.optim.optimizer.lr, weight_decay=cfg.optim.optimizer.weight_decay)
    names = {id(p): n for n, p in named}
    assert {g["lr"] for g in groups} == {1e-4}
    no_decay = {names[id(p)] for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert no_decay == {"backbone.refiner.tokens_a", "backbone.refiner.tokens_b", "backbone.refiner.scale"}
    trained = {names[id(p)] for g in groups for p in g["params"]}
    assert trained == {n for n, p in named if p.requires_grad} and not any(n.startswith("backbone.vit.") for n in trained)


@pytest.mark.parametrize("name, grid", [
    ("ablation_modules", {"flex.gap.enabled": 2, "flex.ube.enabled": 2, "flex.has.enabled": 2, "seed": 3}),
    ("ablation_has_schedule", {"flex.has.schedule": 3, "seed": 3}),
    ("ablation_volume", {"data.num_generated": 5, "seed": 3}),
    ("misalignment", {"data.misalignment_px": 4, "seed": 3}),
])
def test_ablation_sweeps(name, grid):
    params = compose_experiment(name, hydra_node=True).hydra.sweeper.params
    assert {k: len(str(v).split(",")) for k, v in params.items()} == grid
    if name == "ablation_volume":
        assert params["data.num_generated"] == "2500,5000,10000,15000,20000"
    if name == "ablation_has_schedule":
        assert params["flex.has.schedule"] == "sigmoid,linear,none"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_on_synthdrive(name, tmp_path):
    from flexseg.train import train

    cfg = synth_cfg(name, tmp_path)
    assert cfg.trainer.max_steps == 2 and cfg.data._target_ == "flexseg.data.datamodule.SegDataModule"
    summary = train(cfg)
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["miou"]) == {"clear", "fog", "night", "rain", "snow"}
    assert summary["mean"] == pytest.approx(results["mean"])
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_paper_recipe_without_data_names_the_missing_folder(tmp_path):
    from flexseg.train import train

    missing = tmp_path / "no-data-here"
    cfg = compose_experiment("hrda_flex", [f"paths.data_dir={missing}", "trainer=cpu"], output_dir=tmp_path / "run")
    start = time.monotonic()
    with pytest.raises(Exception) as info:
        train(cfg)
    assert time.monotonic() - start < 60
    assert str(missing) in str(info.value), str(info.value)


@pytest.mark.slow
def test_cli_paper_recipe_without_data_stops_quickly(tmp_path):
    missing = tmp_path / "no-data-here"
    cmd = [sys.executable, "-m", "flexseg.train", "+experiment=hrda_flex", f"paths.data_dir={missing}",
           f"hydra.run.dir={tmp_path / 'run'}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="offline")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert str(missing) in proc.stderr + proc.stdout


@pytest.mark.slow
def test_ablation_multirun_and_report(tmp_path):
    """2 grid points of ablation_modules (CLI values replace the sweep) → 2 runs → report."""
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "flexseg.train", "-m", "+experiment=ablation_modules",
           *synth_overrides("ablation_modules"), "callbacks=default",
           "flex.gap.enabled=false", "flex.ube.enabled=false", "flex.has.enabled=true,false", "seed=0",
           f"hydra.sweep.dir={sweep}"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep / "multirun.yaml").is_file()
    assert sorted(p.name for p in sweep.iterdir() if (p / "results.json").is_file()) == ["0", "1"]

    from flexseg import report

    summary = report.write_report(report.load_runs([sweep]), tmp_path / "report")
    assert len(summary) == 2 and "mean" in summary.columns and "adverse" in summary.columns
    assert (tmp_path / "report" / "miou_by_domain.png").is_file()
    assert "(this)" in set(summary["baseline"])  # the all-off job is the baseline
