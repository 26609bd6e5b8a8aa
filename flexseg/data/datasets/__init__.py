"""Real datasets in their published layouts (docs/design.md §5) and the ``build`` entry point.

``build(name, root, split, **options)`` returns a :class:`PairedFolderDataset` whose
samples are ``{"image": uint8 [3,H,W], "label": int64 [H,W], "index", "path", "domain"}``.
Common options of every builder: ``strict`` (unpaired files raise; False skips them with
a warning), ``size_mismatch`` ("error" | "resize"), ``unknown_ids`` ("error" | "ignore"),
``domain``, ``transform``. See each module for its own options.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flexseg.data.datasets.acdc import INFO as ACDC_INFO
from flexseg.data.datasets.acdc import build_acdc
from flexseg.data.datasets.base import (
    CITYSCAPES_IDS,
    MAPILLARY_V12_IDS,
    TRAIN_IDS,
    DatasetError,
    DatasetInfo,
    DatasetLayoutError,
    LabelConverter,
    LabelError,
    LabelFile,
    PairedFolderDataset,
    PairingError,
    Problem,
    UnreadableFileError,
)
from flexseg.data.datasets.bdd100k import INFO as BDD_INFO
from flexseg.data.datasets.bdd100k import build_bdd100k
from flexseg.data.datasets.cityscapes import INFO as CITYSCAPES_INFO
from flexseg.data.datasets.cityscapes import build_cityscapes
from flexseg.data.datasets.dark_zurich import INFO as DZ_INFO
from flexseg.data.datasets.dark_zurich import build_dark_zurich
from flexseg.data.datasets.generated import INFO as GENERATED_INFO
from flexseg.data.datasets.generated import build_generated
from flexseg.data.datasets.gta import INFO as GTA_INFO
from flexseg.data.datasets.gta import build_gta
from flexseg.data.datasets.mapillary import INFO as MAPILLARY_INFO
from flexseg.data.datasets.mapillary import build_mapillary

Builder = Callable[..., PairedFolderDataset]

#: dataset name → builder(root, split, **options)
REGISTRY: dict[str, Builder] = {
    "gta": build_gta,
    "generated": build_generated,
    "cityscapes": build_cityscapes,
    "bdd100k": build_bdd100k,
    "mapillary": build_mapillary,
    "acdc": build_acdc,
    "dark_zurich": build_dark_zurich,
}

#: dataset name → static description (default folder, split, layout, how to obtain)
INFOS: dict[str, DatasetInfo] = {
    "gta": GTA_INFO,
    "generated": GENERATED_INFO,
    "cityscapes": CITYSCAPES_INFO,
    "bdd100k": BDD_INFO,
    "mapillary": MAPILLARY_INFO,
    "acdc": ACDC_INFO,
    "dark_zurich": DZ_INFO,
}


def _plain(value: Any) -> Any:
    """OmegaConf containers (from Hydra) → plain Python objects."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover
        return value
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def build(name: str, root: str | Path, split: str | None = None, **options: Any) -> PairedFolderDataset:
    """Build dataset ``name`` from its own folder ``root`` (e.g. ``data/cityscapes``).

    ``split`` defaults to the dataset's usual evaluation/training split. Unknown names
    raise ValueError listing the known ones; layout problems raise
    :class:`DatasetLayoutError` (a FileNotFoundError) with the expected layout.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))}")
    if split is None:
        split = INFOS[name].default_split
    return REGISTRY[name](root, str(split), **{k: _plain(v) for k, v in options.items()})


__all__ = [
    "CITYSCAPES_IDS", "INFOS", "MAPILLARY_V12_IDS", "REGISTRY", "TRAIN_IDS", "DatasetError", "DatasetInfo",
    "DatasetLayoutError", "LabelConverter", "LabelError", "LabelFile", "PairedFolderDataset", "PairingError",
    "Problem", "UnreadableFileError", "build",
]
