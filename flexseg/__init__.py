"""FlexSeg: domain-generalized semantic segmentation with FLEX-Seg (GAP, UBE, HAS)."""

__version__ = "0.1.0"

import warnings as _warnings

from flexseg._venv import reexec_in_project_venv as _reexec_in_project_venv

# `python -m flexseg.train` typed without activating .venv: run it with .venv's Python
_reexec_in_project_venv()

# conf/hydra/launcher/submitit_{slurm,local}.yaml set FlexSeg's defaults on top of the
# hydra-submitit-launcher schemas of the same name (Hydra's schema matching), which
# Hydra reports with a deprecation warning on every composition.
_warnings.filterwarnings("ignore", message="(?s).*hydra/launcher/submitit_.*validated against ConfigStore schema")
