"""FlexSeg's commands: the console scripts of ``pyproject.toml`` (``flexseg-train``,
``flexseg-eval``, …).

The Hydra commands start through :func:`flexseg.utils.entry.run` (re-exported here), as
``python -m flexseg.<command>`` does from each command module's ``__main__`` block: this
dispatcher imports the commands, none of them imports it.
"""
from __future__ import annotations

from typing import Any

from flexseg.utils.entry import run

__all__ = ["analyze", "bench", "compare", "eval", "export", "predict", "prepare", "preview", "report", "run", "train"]


def train() -> Any:
    """``flexseg-train [overrides]`` = ``python -m flexseg.train``."""
    from flexseg.train import main

    return run(main)


def eval() -> Any:  # noqa: A001 - the command's name
    """``flexseg-eval ckpt_path=... [overrides]`` = ``python -m flexseg.eval``."""
    from flexseg.eval import main

    return run(main)


def analyze() -> Any:
    """``flexseg-analyze ckpt_path=...`` = ``python -m flexseg.analyze``."""
    from flexseg.analyze import main

    return run(main)


def predict() -> Any:
    """``flexseg-predict ckpt_path=... input=DIR output=DIR`` = ``python -m flexseg.predict``."""
    from flexseg.predict import main

    return run(main)


def export() -> Any:
    """``flexseg-export ckpt_path=IN output=OUT`` = ``python -m flexseg.export``."""
    from flexseg.export import main

    return run(main)


def report() -> int:
    """``flexseg-report RUN_DIRS ...`` = ``python -m flexseg.report``."""
    from flexseg.report import main

    return main()


def compare() -> int:
    """``flexseg-compare RUN_A RUN_B ...`` = ``python -m flexseg.analysis.compare``."""
    from flexseg.analysis.compare import main

    return main()


def prepare() -> int:
    """``flexseg-prepare DATASET [--cache]`` = ``python -m flexseg.data.prepare``."""
    from flexseg.data.prepare import main

    return main()


def bench() -> int:
    """``flexseg-bench [...]`` = ``python -m flexseg.bench``."""
    from flexseg.bench import main

    main()  # returns the measurements, not an exit status
    return 0


def preview() -> int:
    """``flexseg-preview --preview out.png`` = ``python -m flexseg.data.synthdrive``."""
    from flexseg.data.synthdrive import main

    main()
    return 0
