"""Every ``conf/experiment/*`` recipe composes with ``+experiment=NAME``, keeps the paper
recipe, and runs 2 steps on synthdrive (``data=synthdrive model=*_mitb0``); without
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


def compose_experiment(name, overrides=(), output_dir="/tmp/flexseg-compose", hydra_node=False):
    """Compose ``train`` with ``+experiment=name``; paths resolved as in a run."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"+experiment={name}", *overrides], return_hydra_config=hydra_node)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(output_dir)
    return cfg


def synth_overrides(name):
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
