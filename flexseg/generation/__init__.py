"""DGInStyle-style generation of training images from GTA label maps (``python -m flexseg.generate``).

Modules (one idea each; see ``docs/generation.md``):

- :mod:`~flexseg.generation.plan` — per-image seeds, rare-class statistics, crops, prompts
  (pure numpy, no diffusion dependency);
- :mod:`~flexseg.generation.fusion` — one-hot conditioning, large connected components,
  MultiDiffusion windows (pure torch / numpy);
- :mod:`~flexseg.generation.models` — model-folder checks and loading (diffusers, lazy);
- :mod:`~flexseg.generation.sampler` — the two-pass DDIM + ControlNet sampler;
- :mod:`~flexseg.generation.store` — output layout, atomic writes, manifest, preview.

Importing :mod:`flexseg` never imports diffusers / transformers: they are the optional
extra ``pip install 'flexseg[generate]'`` and are imported only when models are loaded.
"""
from __future__ import annotations

EXTRA_HINT = "pip install 'flexseg[generate]'  (diffusers, transformers, accelerate, safetensors, scipy)"


def require_generate_extra(module: str) -> None:
    """Raise ImportError naming the ``generate`` extra when ``module`` cannot be imported."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"flexseg.generate needs the Python package {module!r}, which is not installed: "
                          f"{EXTRA_HINT}") from e
