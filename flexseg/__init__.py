"""FlexSeg: domain-generalized semantic segmentation with FLEX-Seg (GAP, UBE, HAS).

Importing FlexSeg changes no global state (no warning filters, no re-execution). The
one exception is the start of ``python -m flexseg.<command>`` itself: while Python
locates that module, a Python lacking the dependencies hands the command over to the
checkout's ``.venv`` (``flexseg/_venv.py``).
"""

__version__ = "0.1.0"

from flexseg._venv import reexec_in_project_venv as _reexec_in_project_venv

_reexec_in_project_venv()
