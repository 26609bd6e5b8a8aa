"""Where FlexSeg's Hydra configs are: ``conf/`` of the checkout, or ``flexseg/conf``
inside an installed wheel (``setup.py`` maps the one onto the other).

Every Hydra entry point uses :data:`CONFIG_PATH`; users add their own config folders
with ``hydra.searchpath=[file:///abs/my_conf]`` or ``--config-dir my_conf`` without
copying ours (README.md, "Your own configs").
"""
from __future__ import annotations

from pathlib import Path

from flexseg.utils.resolvers import register_resolvers

__all__ = ["CONFIG_PATH", "config_dir"]

_PACKAGE = Path(__file__).resolve().parents[1]


def config_dir(package: Path = _PACKAGE) -> Path:
    """The folder holding ``train.yaml``: ``<package>/conf`` (installed wheel) or
    ``<package>/../conf`` (checkout, editable install). Raises when neither exists."""
    candidates = (package / "conf", package.parent / "conf")
    for candidate in candidates:
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        "FlexSeg's configs are missing: expected train.yaml in "
        + " or ".join(str(c) for c in candidates)
        + ". Reinstall FlexSeg (pip install flexseg / pip install -e . in a checkout)."
    )


#: absolute path for ``@hydra.main(config_path=...)``
CONFIG_PATH: str = str(config_dir())


def _register_resolvers() -> None:
    """Config resolvers every entry point's configs may use (``${classes.count:FILE}``,
    ``${run_stamp:...}`` of conf/hydra/default.yaml, …)."""
    from flexseg.data.classes import register_resolvers as register_class_resolvers

    register_class_resolvers()
    register_resolvers()


_register_resolvers()
