"""What a command does when it starts (``conf/extras/default.yaml``): print and save the
resolved config, keep third-party chatter out of the console.

Called by the Hydra entry points (``train``, ``eval``, ``analyze``, ``predict``) on the
composed config; importing :mod:`flexseg` changes no global state.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

from lightning_utilities.core.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

__all__ = ["apply_extras", "config_tree", "quiet_third_party", "save_config"]

log = logging.getLogger(__name__)

#: order of the top-level branches in the printed tree (the rest follows)
TREE_ORDER: tuple[str, ...] = ("data", "model", "flex", "optim", "trainer", "logger", "callbacks", "paths", "extras")
#: Lightning's messages that advertise other products
_TIP_PREFIX = "💡 Tip:"


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_TIP_PREFIX)


def quiet_third_party() -> None:
    """Hide deprecation/future warnings (they concern library internals, not the run),
    Hydra's schema-matching notice for ``conf/hydra/launcher/submitit_*.yaml`` and
    Lightning's product tips. Process-wide: for programs, not for library imports."""
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema")
    tips = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in tips.filters):
        tips.addFilter(_DropTips())


def config_tree(cfg: DictConfig, order: Sequence[str] = TREE_ORDER):
    """A :class:`rich.tree.Tree` of the resolved ``cfg``, one branch per top-level key."""
    import rich.syntax
    import rich.tree

    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    keys = [k for k in order if k in cfg] + [k for k in cfg if k not in order]
    for key in keys:
        branch = tree.add(str(key), style="dim", guide_style="dim")
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=True) if OmegaConf.is_config(node) else str(node)
        branch.add(rich.syntax.Syntax(text, "yaml"))
    return tree


def save_config(cfg: DictConfig, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``config_resolved.yaml`` (every interpolation resolved) and
    ``config_tree.log`` (the printed tree as text) into ``out_dir``."""
    from rich.console import Console

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    resolved = out / "config_resolved.yaml"
    resolved.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    tree_log = out / "config_tree.log"
    with tree_log.open("w") as fh:
        Console(file=fh, width=120, color_system=None).print(config_tree(cfg))
    return resolved, tree_log


@rank_zero_only
def _print_and_save(cfg: DictConfig, print_config: bool) -> None:
    if print_config:
        from rich.console import Console

        Console().print(config_tree(cfg))
    out_dir = OmegaConf.select(cfg, "paths.output_dir")
    if out_dir:
        save_config(cfg, out_dir)


def apply_extras(cfg: DictConfig) -> None:
    """Apply ``cfg.extras`` (missing = defaults): quiet the console, print the config
    tree, save the resolved config into the run directory."""
    extras = cfg.get("extras") or {}
    if extras.get("ignore_warnings", False):
        warnings.filterwarnings("ignore")
    if extras.get("quiet", True):
        quiet_third_party()
    _print_and_save(cfg, bool(extras.get("print_config", True)))
