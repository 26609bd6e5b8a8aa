"""Real datasets in their published layouts (docs/design.md §5) and the ``build`` entry point.

``build(name, root, split, **options)`` returns a :class:`PairedFolderDataset` whose
samples are ``{"image": uint8 [3,H,W], "label": int64 [H,W], "index", "path", "domain"}``.
Common options of every builder: ``strict`` (unpaired files raise; False skips them with
a warning), ``size_mismatch`` ("error" | "resize"), ``unknown_ids`` ("error" | "ignore"),
``domain``, ``transform``. See each module for its own options.

Each dataset is a declaration (:class:`~flexseg.data.datasets.base.DatasetLayout`: folders,
suffixes, id table, hints, how to obtain it) read by one generic builder; :data:`LAYOUTS`
lists them, and :data:`REGISTRY` / :data:`INFOS` are derived from it.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flexseg.data.datasets.acdc import ACDC
from flexseg.data.datasets.base import (
    CITYSCAPES_IDS,
    MAPILLARY_V12_IDS,
    TRAIN_IDS,
    DatasetError,
    DatasetInfo,
    DatasetLayout,
    DatasetLayoutError,
    LabelConverter,
    LabelError,
    LabelFile,
    PairedFolderDataset,
    PairingError,
    Problem,
    UnreadableFileError,
)
from flexseg.data.datasets.bdd100k import BDD100K
from flexseg.data.datasets.cityscapes import CITYSCAPES
from flexseg.data.datasets.dark_zurich import DARK_ZURICH
from flexseg.data.datasets.generated import GENERATED
from flexseg.data.datasets.gta import GTA
from flexseg.data.datasets.mapillary import MAPILLARY

Builder = Callable[..., PairedFolderDataset]

#: Every dataset's declaration (docs/custom_data.md, "Adding a dataset layout").
LAYOUTS: tuple[DatasetLayout, ...] = (GTA, GENERATED, CITYSCAPES, BDD100K, MAPILLARY, ACDC, DARK_ZURICH)

#: dataset name → builder(root, split, **options)
REGISTRY: dict[str, Builder] = {layout.name: layout.build for layout in LAYOUTS}

#: dataset name → static description (default folder, split, layout, how to obtain)
INFOS: dict[str, DatasetInfo] = {layout.name: layout for layout in LAYOUTS}


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
    "CITYSCAPES_IDS", "INFOS", "LAYOUTS", "MAPILLARY_V12_IDS", "REGISTRY", "TRAIN_IDS", "DatasetError", "DatasetInfo",
    "DatasetLayout", "DatasetLayoutError", "LabelConverter", "LabelError", "LabelFile", "PairedFolderDataset", "PairingError",
    "Problem", "UnreadableFileError", "build",
]
