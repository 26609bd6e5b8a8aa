"""How a Hydra command starts: :func:`run`, shared by ``python -m flexseg.<command>``
(each command module's ``__main__`` block) and the console scripts of :mod:`flexseg.cli`.

It lives below both so that a command module owns its ``main`` without importing the
dispatcher that imports it. Process-wide settings that a library import must not make
are made here, when a command starts: Hydra's notice that
``conf/hydra/launcher/submitit_*.yaml`` extend the plugin's schemas of the same name is
emitted while the config is composed, before the command's own code
(``flexseg/utils/extras.py``) runs.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["run"]


def run(main: Callable[[], Any]) -> Any:
    """Run a Hydra ``main`` as a program."""
    warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema")
    return main()
