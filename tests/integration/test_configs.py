"""Compose every config group with Hydra's compose API; bad values fail early."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

from flexseg.checks import validate_config
from flexseg.utils.config import ConfigError

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
    assert paper.optimizer.lr == 6e-5 and paper.param_groups.head_lr_mult == 10.0 and paper.optimizer.weight_decay == 0.01
    assert paper.scheduler.warmup_steps == 1500 and paper.scheduler.power == 1.0
    assert cfg.data._target_ == "flexseg.data.datamodule.SegDataModule"


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.batch_size=-1", "data.batch_size"),
        ("data.height=100", "divisible by 32"),
        ("trainer.max_steps=0", "max_steps"),
        ("flex.has.schedule=cosine", r"flex\.has: schedule must be one of \('sigmoid', 'linear', 'none'\)"),
        ("flex.has.temperature=0", r"flex\.has: temperature"),
        ("+flex.has.speed=2", r"flex\.has: .*speed"),
        ("data.misalignment_px=-2", "misalignment"),
        ("optim.optimizer.lr=0", r"optim\.optimizer\.lr"),
    ],
)
def test_invalid_values_are_rejected_before_training(override, message):
    cfg = compose_cfg([override])
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


@pytest.mark.parametrize(
    "override, message",
    [
        ("flex.kernel_sizes=[3,4]", r"flex\.kernel_sizes"),
        ("flex.gap.tau=-1", r"flex\.gap\.tau"),
        ("flex.gap.momentum=1.5", r"flex\.gap: momentum"),
        ("flex.ube.alpha=-1", r"flex\.ube\.alpha"),
        ("~flex.gap.max_weight", r"missing flex\.gap\.max_weight"),
        ("+flex.ube.beta=1", r"unknown flex\.ube\.beta"),
        ("flex.loss_normalization=sum", r"flex\.loss_normalization"),
    ],
)
def test_invalid_flex_values_are_rejected_when_the_criterion_is_built(override, message):
    """flex.kernel_sizes / ube / gap / loss_normalization have one check, FlexCriterion's,
    which names the key; the criterion is built before training starts."""
    from flexseg.build import build_criterion

    cfg = compose_cfg([override])
    validate_config(cfg)  # not validate_config's business
    with pytest.raises(ValueError, match=message):
        build_criterion(cfg, feature_dim=8)


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
