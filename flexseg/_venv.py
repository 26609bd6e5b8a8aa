"""Run ``python -m flexseg.<command>`` with the project's environment when it was typed
with another Python.

``make install`` installs every dependency into ``<repository>/.venv``. A user who then
types ``python -m flexseg.train`` in the repository without activating it gets a Python
that lacks them (``No module named 'hydra'``). In that case, and only for a
``-m flexseg…`` command, the command is run again, with the same arguments, by
``.venv/bin/python`` (a note on stderr says so). Nothing happens when the dependencies
import, or with ``FLEXSEG_NO_VENV=1``.

Only the start of ``python -m flexseg.<command>`` can trigger it: Python imports the
``flexseg`` package while it locates the command's module, and during that time
``sys.argv[0]`` is ``"-m"``. A library import (``import flexseg`` in a script, a
notebook, the tests, an installed console script) never re-executes anything.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["reexec_in_project_venv"]

REQUIRED: tuple[str, ...] = ("torch", "hydra", "lightning")


def _locating_flexseg_module(argv0: str, orig_argv: list[str]) -> bool:
    """True while Python locates the module of ``python -m flexseg…``."""
    return argv0 == "-m" and _flexseg_module_argv(orig_argv)


def _flexseg_module_argv(argv: list[str]) -> bool:
    """True when ``argv`` (``sys.orig_argv``) runs ``-m flexseg…``."""
    if "-m" not in argv[1:]:
        return False
    i = argv.index("-m", 1)
    return i + 1 < len(argv) and argv[i + 1].split(".")[0] == "flexseg"


def reexec_in_project_venv() -> None:
    """Replace this process by ``.venv/bin/python <same arguments>`` when this Python
    lacks FlexSeg's dependencies, the command is ``-m flexseg…`` and the repository's
    ``.venv`` exists; otherwise return."""
    if os.environ.get("FLEXSEG_NO_VENV") == "1":
        return
    argv = list(getattr(sys, "orig_argv", []))
    if not _locating_flexseg_module(sys.argv[0] if sys.argv else "", argv):
        return
    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    if not missing:
        return
    venv = Path(__file__).resolve().parents[1] / ".venv"
    python = venv / "bin" / "python"
    if not python.is_file() or Path(sys.prefix).resolve() == venv.resolve():
        return
    print(f"flexseg: {sys.executable} lacks {', '.join(missing)}; running with {python} "
          "(`source .venv/bin/activate` to use it directly)", file=sys.stderr)
    sys.stderr.flush()
    os.execve(str(python), [str(python), *argv[1:]], {**os.environ, "FLEXSEG_NO_VENV": "1"})
