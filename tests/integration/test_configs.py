"""Compose every config group with Hydra's compose API; bad values fail early."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

from flexseg.utils.config import ConfigError, validate_config

CONF = Path(__file__).resolve().parents[2] / "conf"


def compose_cfg(overrides=(), name="train"):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=list(overrides), return_hydra_config=True)
    # resolve ${hydra:...} interpolations the way a run would
    with open_dict(cfg):
        cfg.paths.root_dir = str(CONF.parent)
        cfg.paths.output_dir = "/tmp/flexseg-compose"
        del cfg["hydra"]  # runtime-only values (job number, output dir) exist in a real run alone
    return cfg


def group_options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["data", "model", "trainer", "logger", "callbacks", "flex", "optim"])
def test_every_group_option_composes(group):
    for option in group_options(group):
        cfg = compose_cfg([f"{group}={option}"])
        node = cfg.get(group)
        if node is not None:
            OmegaConf.to_container(node, resolve=False)


def test_default_config_is_valid_and_has_paper_defaults():
    cfg = compose_cfg()
    validate_config(cfg)
    assert cfg.flex.gap.tau == 0.07 and cfg.flex.gap.weight == 0.5 and cfg.flex.gap.momentum == 0.99
    assert cfg.flex.ube.alpha == 3.0
    assert cfg.flex.has.k == 0.05 and cfg.flex.has.temperature == 1.0 and cfg.flex.has.schedule == "sigmoid"
    assert list(cfg.flex.kernel_sizes) == [3, 5, 7]
    paper = compose_cfg(["optim=adamw_poly"]).optim
    assert paper.lr == 6e-5 and paper.head_lr_mult == 10.0 and paper.weight_decay == 0.01
    assert paper.warmup_steps == 1500 and paper.power == 1.0
    assert cfg.data._target_ == "flexseg.data.datamodule.SegDataModule"


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.batch_size=-1", "data.batch_size"),
        ("data.height=100", "divisible by 32"),
        ("trainer.max_steps=0", "max_steps"),
        ("flex.has.schedule=cosine", "schedule"),
        ("flex.kernel_sizes=[3,4]", "kernel_sizes"),
        ("data.misalignment_px=-2", "misalignment"),
    ],
)
def test_invalid_values_are_rejected_before_training(override, message):
    cfg = compose_cfg([override])
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_unknown_key_or_option_is_hydras_error():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose_cfg(["model=does_not_exist"])
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["trainer.no_such_key=3"])


def test_slurm_launcher_composes_with_one_gpu_per_job():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for name in ("submitit_slurm", "slurm"):
            cfg = compose(config_name="train", overrides=[f"hydra/launcher={name}"], return_hydra_config=True)
            assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
            assert cfg.hydra.launcher.gpus_per_node == 1 and cfg.hydra.launcher.tasks_per_node == 1
            assert cfg.hydra.launcher.partition is None  # plugin fields kept
        cfg = compose(config_name="train", overrides=["hydra/launcher=submitit_local"], return_hydra_config=True)
        assert cfg.hydra.launcher._target_.endswith("LocalLauncher") and cfg.hydra.launcher.gpus_per_node == 0
