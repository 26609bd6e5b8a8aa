"""Builders from the composed Hydra config: datamodule, network, loss, module,
callbacks, loggers, trainer. Shared by ``train``, ``eval`` and the tests."""
from __future__ import annotations

import logging

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from flexseg.data.datamodule import SegDataModule
from flexseg.module import SegModule

log = logging.getLogger(__name__)


def build_datamodule(cfg: DictConfig) -> SegDataModule:
    has = OmegaConf.to_container(cfg.flex.has, resolve=True)
    return instantiate(cfg.data, has=has, seed=cfg.seed, max_steps=cfg.trainer.get("max_steps"), _convert_="object")


def build_criterion(cfg: DictConfig):
    from flexseg.flex.criterion import FlexCriterion

    flex = OmegaConf.to_container(cfg.flex, resolve=True)
    return FlexCriterion(
        num_classes=cfg.model.get("num_classes", 19),
        kernel_sizes=tuple(flex["kernel_sizes"]),
        feature_dim=cfg.model.get("embed_dim", 256),
        ube=flex["ube"],
        gap=flex["gap"],
        seed=cfg.seed,
        normalize=flex.get("loss_normalization", "valid"),
    )


def build_module(cfg: DictConfig) -> SegModule:
    net = instantiate(cfg.model)
    optim = OmegaConf.to_container(cfg.optim, resolve=True)
    return SegModule(
        net=net,
        criterion=build_criterion(cfg),
        boundary_kernel_sizes=tuple(cfg.flex.kernel_sizes),
        num_classes=cfg.model.get("num_classes", 19),
        channels_last=cfg.get("channels_last", False),
        skip_nonfinite=cfg.get("skip_nonfinite", False),
        **optim,
    )


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    callbacks = []
    for name, cb_cfg in (cfg.get("callbacks") or {}).items():
        if cb_cfg is not None and "_target_" in cb_cfg:
            callbacks.append(instantiate(cb_cfg))
        elif cb_cfg is not None:
            raise ValueError(f"callbacks.{name} has no _target_")
    return callbacks


#: optional packages of loggers: target class name → (module, pip extra)
OPTIONAL_LOGGERS: dict[str, tuple[str, str]] = {"WandbLogger": ("wandb", "wandb"),
                                                "TensorBoardLogger": ("tensorboard", "tensorboard")}


def _check_logger_package(name: str, target: str) -> None:
    """A clear error when a logger's optional package is missing (pyproject extras)."""
    import importlib.util

    module, extra = OPTIONAL_LOGGERS.get(str(target).rsplit(".", 1)[-1], (None, None))
    if module is not None and importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(
            f"logger.{name} ({target}) needs the {module} package: pip install 'flexseg[{extra}]' "
            f"(make install includes wandb), or choose another logger (logger=csv)")


def build_loggers(cfg: DictConfig) -> list:
    loggers = []
    for name, lg_cfg in (cfg.get("logger") or {}).items():
        if lg_cfg is not None and "_target_" in lg_cfg:
            _check_logger_package(name, lg_cfg._target_)
            loggers.append(instantiate(lg_cfg))
        elif lg_cfg is not None:
            raise ValueError(f"logger.{name} has no _target_")
    return loggers


def build_trainer(cfg: DictConfig, callbacks=None, loggers=None) -> L.Trainer:
    callbacks = list(callbacks or [])
    if not loggers:  # LearningRateMonitor needs a logger: drop it rather than fail
        from lightning.pytorch.callbacks import LearningRateMonitor

        callbacks = [cb for cb in callbacks if not isinstance(cb, LearningRateMonitor)]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
