"""Builders from the composed Hydra config: datamodule, network, loss, module,
callbacks, loggers, trainer. Shared by ``train``, ``eval`` and the tests."""
from __future__ import annotations

import logging

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from flexseg.data.classes import CITYSCAPES, ClassSet, register_resolvers
from flexseg.data.datamodule import SegDataModule
from flexseg.module import SegModule
from flexseg.utils.resolvers import register_resolvers as register_config_resolvers

log = logging.getLogger(__name__)
register_resolvers()  # ${classes.count:FILE} etc. of data=custom
register_config_resolvers()  # ${run_stamp:...}, ${vfm_weights_file:ENCODER}


def class_set(cfg: DictConfig) -> ClassSet:
    """The dataset's classes: ``data.class_names`` / ``data.class_colors`` (data=custom,
    from its class file), else the 19 Cityscapes classes. Raises when ``model.num_classes``
    disagrees with them (a network head that cannot fit the labels)."""
    data = cfg.get("data") or {}
    names = data.get("class_names")
    classes = CITYSCAPES
    if names is not None:
        colors = data.get("class_colors")
        if colors is None or len(colors) != len(names):
            raise ValueError(f"data.class_names has {len(names)} names but data.class_colors "
                             f"{'is missing' if colors is None else f'has {len(colors)} colours'}")
        classes = ClassSet(tuple(str(n) for n in names), tuple(tuple(int(v) for v in c) for c in colors))
    num = cfg.model.get("num_classes", 19)
    if num != len(classes):
        raise ValueError(f"model.num_classes={num} but the data has {len(classes)} classes "
                         f"({', '.join(classes.names[:5])}{', …' if len(classes) > 5 else ''}); leave "
                         "model.num_classes to its default ${oc.select:data.num_classes,19}")
    return classes


def build_datamodule(cfg: DictConfig) -> SegDataModule:
    has = OmegaConf.to_container(cfg.flex.has, resolve=True)
    return instantiate(cfg.data, has=has, seed=cfg.seed, max_steps=cfg.trainer.get("max_steps"), _convert_="object")


def build_criterion(cfg: DictConfig, feature_dim: int):
    """The :class:`~flexseg.flex.criterion.FlexCriterion` of ``cfg.flex`` (every value from
    ``conf/flex/``) for decoder features of ``feature_dim`` channels (the network's
    ``feature_dim``)."""
    from flexseg.flex.criterion import FlexCriterion

    flex = OmegaConf.to_container(cfg.flex, resolve=True)
    return FlexCriterion(
        num_classes=cfg.model.get("num_classes", 19),
        kernel_sizes=tuple(flex["kernel_sizes"]),
        feature_dim=feature_dim,
        ube=flex["ube"],
        gap=flex["gap"],
        normalize=cfg.flex.loss_normalization,
        seed=cfg.seed,
    )


def build_module(cfg: DictConfig) -> SegModule:
    """Network (``cfg.model``), criterion (``cfg.flex``) and optimizer, group rule and
    scheduler (``cfg.optim``: the optimizer and the scheduler as partials) → SegModule."""
    net = instantiate(cfg.model)
    if not isinstance(getattr(net, "feature_dim", None), int):
        raise TypeError(f"{cfg.model._target_} has no int attribute feature_dim (the channels of its "
                        "'features' output, which the GAP projection head takes; see flexseg.models)")
    optim = {key: instantiate(cfg.optim[key], _convert_="all") for key in ("optimizer", "param_groups", "scheduler")}
    return SegModule(
        net=net,
        criterion=build_criterion(cfg, net.feature_dim),
        boundary_kernel_sizes=tuple(cfg.flex.kernel_sizes),
        num_classes=cfg.model.get("num_classes", 19),
        class_names=class_set(cfg).names,
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
    """The trainer of ``cfg.trainer`` with ``callbacks`` and ``loggers`` (none → logging off).

    Whatever the ``callbacks`` (``callbacks=none`` too), the trainer gets one
    :class:`~flexseg.data.feedback.SamplerFeedback`, first: the training batch sampler's
    loss feedback (HAS difficulties, the stream position of exact resume) is part of
    training, not an option. A ``LearningRateMonitor`` is dropped when there is no logger.
    """
    from flexseg.data.feedback import add_feedback

    callbacks = list(callbacks or [])
    add_feedback(callbacks)
    if not loggers:  # LearningRateMonitor needs a logger: drop it rather than fail
        from lightning.pytorch.callbacks import LearningRateMonitor

        callbacks = [cb for cb in callbacks if not isinstance(cb, LearningRateMonitor)]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
