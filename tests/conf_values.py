"""The values of ``conf/`` for tests that build components by hand: conf/ is the one home
of every hyperparameter (docs/config.md), so tests read it instead of repeating values."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"


def conf_values(path: str, **overrides: Any) -> dict[str, Any]:
    """The mapping of ``conf/<path>`` (a file without a defaults list), with ``overrides``."""
    node = OmegaConf.load(CONF / path)
    return {**OmegaConf.to_container(node, resolve=True), **overrides}


def _section(name: str, given: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if given is None else conf_values("flex/default.yaml")[name] | given


def criterion_kwargs(ube: dict[str, Any] | None = {}, gap: dict[str, Any] | None = {},  # noqa: B006 (read only)
                     **top: Any) -> dict[str, Any]:
    """Keyword arguments of ``FlexCriterion`` (besides num_classes, feature_dim) from
    ``conf/flex/default.yaml``; ``ube`` / ``gap``: overrides of that section, None = off;
    ``top``: overrides of kernel_sizes, normalize, seed."""
    flex = conf_values("flex/default.yaml")
    kwargs = {"kernel_sizes": tuple(flex["kernel_sizes"]), "normalize": flex["loss_normalization"],
              "ube": _section("ube", ube), "gap": _section("gap", gap)}
    return kwargs | top


def fd_values(**overrides: Any) -> dict[str, Any]:
    """``model.feature_distance`` options of ``conf/model/feature_distance/things.yaml``."""
    return conf_values("model/feature_distance/things.yaml", **overrides)


def shade_values(**overrides: Any) -> dict[str, Any]:
    """``model.shade`` options of ``conf/model/shade/reference.yaml``."""
    return conf_values("model/shade/reference.yaml", **overrides)


def module_kwargs(optim: str = "adamw_poly", **overrides: Any) -> dict[str, Any]:
    """SegModule's optimizer / param_groups / scheduler (instantiated from ``conf/optim/<optim>.yaml``),
    boundary_kernel_sizes (``conf/flex/default.yaml``) and num_classes 19; ``overrides``:
    dotted keys of the optim file (``**{"optimizer.lr": 1e-3}``)."""
    node = OmegaConf.load(CONF / "optim" / f"{optim}.yaml")
    if "defaults" in node:
        raise ValueError(f"conf/optim/{optim}.yaml has a defaults list: compose it with Hydra instead")
    for key, value in overrides.items():
        OmegaConf.update(node, key, value, merge=False)
    kwargs = {key: instantiate(node[key], _convert_="all") for key in ("optimizer", "param_groups", "scheduler")}
    return kwargs | {"boundary_kernel_sizes": tuple(conf_values("flex/default.yaml")["kernel_sizes"]), "num_classes": 19}
