"""Shared machinery of the real-data datasets: errors, label conversion, file pairing.

Every dataset is a :class:`PairedFolderDataset` built from (image file, label file) pairs
and yields ``{"image": uint8 [3,H,W], "label": int64 [H,W] (19 train ids, 255 ignore),
"index": int, "path": str (image file), "domain": str}``.

**Label cache.** Raw label ids (Cityscapes ids, Mapillary ids) are converted to train ids
on the fly. ``python -m flexseg.data.prepare DATASET --cache`` writes the converted
labels once, *next to the originals*, under the name every public tool uses:

- ``X_labelIds.png`` → ``X_labelTrainIds.png`` (Cityscapes ``_gtFine_``, ACDC / Dark
  Zurich ``_gt_``; the same files cityscapesScripts / the dataset authors ship), and
- ``X.png`` → ``X_labelTrainIds.png`` in the same folder for folder layouts (GTA,
  Mapillary, generated sets; the mmseg / DAFormer convention).

A cached file is used when it exists and is not older than its source label (mtime),
so an edited source label is converted on the fly (prepare reports the cache as
missing) rather than read from a stale cache. The raw-label file lists skip ``*_labelTrainIds.png`` names.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from flexseg.data.labels import (
    CITYSCAPES_ID_TO_TRAINID,
    IGNORE_INDEX,
    MAPILLARY_TO_TRAINID,
    MAPILLARY_TO_TRAINID_REIN,
    NUM_CLASSES,
)

TRAINID_SUFFIX = "_labelTrainIds.png"
DATA_ROOT_HINT = (
    "(Datasets are looked up under paths.data_dir=<dir> (env FLEXSEG_DATA, default data/); "
    "check a tree with: python -m flexseg.data.prepare <dataset> --root <dir>)"
)
SizeMismatch = Literal["error", "resize"]
UnknownIds = Literal["error", "ignore"]


# --------------------------------------------------------------------------- errors
class DatasetError(Exception):
    """Base class of every data error FlexSeg raises."""


class DatasetLayoutError(DatasetError, FileNotFoundError):
    """A dataset folder, split or file is missing, or no image was found."""


class PairingError(DatasetLayoutError):
    """Images without labels or labels without images."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class LabelError(DatasetError, ValueError):
    """A label file holds unknown ids, several channels, or differs in size from its image."""


class UnreadableFileError(DatasetError, OSError):
    """An image or label file cannot be decoded (corrupt, truncated, not an image)."""


@dataclass(frozen=True)
class Problem:
    """One finding about one file (used by strict=False builds and by prepare)."""

    path: Path
    message: str
    severity: Literal["error", "warning"] = "error"


def layout_error(name: str, missing: Path, layout: str, obtain: str, root: Path) -> DatasetLayoutError:
    """A :class:`DatasetLayoutError` naming ``missing`` with the expected layout and how to get it."""
    return DatasetLayoutError(f"{name}: {missing} not found.\n" + expected_layout(layout, obtain, root))


def expected_layout(layout: str, obtain: str, root: Path) -> str:
    """The expected tree under ``root``, how to obtain it and where datasets are looked up."""
    return (f"Expected layout under {root}:\n{layout.rstrip()}\n"
            f"To obtain it: {obtain.replace('<root>', str(root))}\n{DATA_ROOT_HINT}")


def require_dir(path: Path, name: str, layout: str, obtain: str, root: Path) -> Path:
    """Return ``path`` if it is a directory, else raise a layout error."""
    if not path.is_dir():
        raise layout_error(name, path, layout, obtain, root)
    return path


# ------------------------------------------------------------------ label conversion
class LabelConverter:
    """Maps the raw values of a label encoding to train ids and rejects unknown values.

    Args:
        name: encoding name (for messages).
        mapping: raw value → train id; known values outside it map to 255.
        known: every raw value that may legitimately occur (others are errors).
    """

    def __init__(self, name: str, mapping: Mapping[int, int], known: Iterable[int]) -> None:
        self.name = name
        self.lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
        for raw, train in mapping.items():
            self.lut[raw] = train
        self.known = np.zeros(256, dtype=bool)
        self.known[list(known)] = True
        self.identity = bool((self.lut[self.known] == np.arange(256)[self.known]).all())

    def __repr__(self) -> str:
        return f"LabelConverter({self.name!r})"

    def unknown_values(self, raw: np.ndarray) -> list[int]:
        """The sorted raw values of ``raw`` that this encoding does not know."""
        if raw.dtype != np.uint8:
            if raw.size and (raw.min() < 0 or raw.max() > 255):
                values = np.unique(raw)
                return [int(v) for v in values if v < 0 or v > 255 or not self.known[v]]
            raw = raw.astype(np.uint8)
        bad = ~self.known[raw]
        return [int(v) for v in np.unique(raw[bad])] if bad.any() else []

    def __call__(self, raw: np.ndarray, path: Path | str = "?", unknown_ids: UnknownIds = "error") -> np.ndarray:
        """Convert a raw [H,W] label to uint8 train ids; unknown values raise :class:`LabelError`."""
        unknown = self.unknown_values(raw)
        if unknown and unknown_ids == "error":
            shown = ", ".join(map(str, unknown[:20])) + (" …" if len(unknown) > 20 else "")
            raise LabelError(
                f"{path}: label values not in the {self.name} encoding: {shown}. "
                "Wrong label files (e.g. colour or instance maps) or a wrong label_encoding?"
            )
        if unknown:  # unknown_ids == "ignore": unknown values → 255
            raw = np.where(np.isin(raw, unknown), IGNORE_INDEX, raw)
        raw = raw.astype(np.uint8, copy=False)
        return raw.copy() if self.identity else self.lut[raw]


#: Cityscapes label ids 0..33 (GTA, Cityscapes, ACDC, Dark Zurich); 255 = ignore also allowed.
CITYSCAPES_IDS = LabelConverter("Cityscapes label-id", CITYSCAPES_ID_TO_TRAINID, [*range(34), 255])
#: Already 19 train ids + 255 (BDD100K masks, *_labelTrainIds.png files).
TRAIN_IDS = LabelConverter("train-id", {i: i for i in range(NUM_CLASSES)}, [*range(NUM_CLASSES), 255])
#: Mapillary Vistas v1.2 ids 0..65.
MAPILLARY_V12_IDS = LabelConverter("Mapillary v1.2", MAPILLARY_TO_TRAINID, range(66))
#: Mapillary Vistas v1.2 ids 0..65 with the Rein family's table (``label_table=rein``).
MAPILLARY_V12_IDS_REIN = LabelConverter("Mapillary v1.2 (Rein table)", MAPILLARY_TO_TRAINID_REIN, range(66))

ENCODINGS: dict[str, LabelConverter] = {"ids": CITYSCAPES_IDS, "trainids": TRAIN_IDS, "mapillary": MAPILLARY_V12_IDS}


@dataclass(frozen=True)
class LabelFile:
    """An original label file, its encoding and the path of its train-id cache (None: none needed)."""

    path: Path
    converter: LabelConverter
    cache: Path | None = None

    def cache_is_fresh(self) -> bool:
        """True when the cache file exists and is not older than the source label."""
        if self.cache is None:
            return False
        try:
            return self.cache.stat().st_mtime_ns >= self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return False

    def reader(self) -> tuple[Path, LabelConverter]:
        """The file to read and how to convert it (the fresh cache if any, else the source)."""
        return (self.cache, TRAIN_IDS) if self.cache_is_fresh() else (self.path, self.converter)  # type: ignore[return-value]


# ------------------------------------------------------------------------------ IO
def read_image(path: Path | str) -> np.ndarray:
    """Decode an image file to a uint8 [H,W,3] RGB array; errors name the file."""
    try:
        with Image.open(path) as img:
            img.load()
            return np.array(img.convert("RGB"))
    except FileNotFoundError as e:
        raise DatasetLayoutError(f"image file missing: {path}") from e
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise UnreadableFileError(f"cannot read image {path}: {e}") from e


def read_label(path: Path | str) -> np.ndarray:
    """Decode a single-channel label PNG to an integer [H,W] array; errors name the file."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
                raise LabelError(
                    f"{path}: label image has mode {mode!r}; expected a single-channel id "
                    "image (mode L, P or 16-bit). Colour-coded labels are not supported."
                )
            return np.array(img)
    except FileNotFoundError as e:
        raise DatasetLayoutError(f"label file missing: {path}") from e
    except LabelError:
        raise
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise UnreadableFileError(f"cannot read label {path}: {e}") from e


def image_size(path: Path | str) -> tuple[int, int]:
    """(width, height) from the file header only."""
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise UnreadableFileError(f"cannot read {path}: {e}") from e


def resize_nearest(label: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of an [H,W] array (index rule of cv2 / torch 'nearest')."""
    h, w = label.shape
    rows = np.minimum((np.arange(height) * (h / height)).astype(np.int64), h - 1)
    cols = np.minimum((np.arange(width) * (w / width)).astype(np.int64), w - 1)
    return label[rows[:, None], cols[None, :]]


# -------------------------------------------------------------------------- pairing
def index_files(folder: Path, suffix: str, recursive: bool = False, exclude_suffix: str | None = None) -> dict[str, Path]:
    """Map key → file for files in ``folder`` ending with ``suffix`` (hidden files skipped).

    The key is the path relative to ``folder`` without ``suffix`` (posix separators).
    """
    found: dict[str, Path] = {}
    walker = folder.rglob("*") if recursive else folder.iterdir()
    for p in walker:
        name = p.name
        if name.startswith(".") or not name.endswith(suffix):
            continue
        if exclude_suffix and name.endswith(exclude_suffix):
            continue
        if not p.is_file():
            continue
        rel = p.relative_to(folder).as_posix()
        found[rel[: len(rel) - len(suffix)]] = p
    return found


def index_labels(
    folder: Path,
    suffix: str,
    converter: LabelConverter,
    recursive: bool = False,
    trainid_suffix: str = TRAINID_SUFFIX,
) -> dict[str, LabelFile]:
    """Map key → :class:`LabelFile` for the labels in ``folder``.

    ``suffix`` names the raw files (e.g. ``_gtFine_labelIds.png`` or ``.png``); their
    train-id caches are ``key + trainid_suffix``. A key with only a train-id file is
    read as train ids. With a train-id ``converter`` the raw files are the train-id files.
    """
    if converter is TRAIN_IDS or suffix == trainid_suffix:
        return {k: LabelFile(p, TRAIN_IDS) for k, p in index_files(folder, suffix, recursive).items()}
    raw = index_files(folder, suffix, recursive, exclude_suffix=trainid_suffix)
    cached = index_files(folder, trainid_suffix, recursive)
    labels = {k: LabelFile(p, converter, folder / (k + trainid_suffix)) for k, p in raw.items()}
    for k, p in cached.items():
        labels.setdefault(k, LabelFile(p, TRAIN_IDS))
    return labels


def pair_files(
    images: Mapping[str, Path],
    labels: Mapping[str, LabelFile],
    *,
    name: str,
    strict: bool = True,
    label_hint: str = "",
) -> tuple[list[Path], list[LabelFile], list[Problem]]:
    """Pair images and labels by key (sorted by key).

    Unpaired files raise :class:`PairingError` listing them (``strict``), or are
    skipped with a warning and returned as problems (``strict=False``).
    """
    keys = sorted(set(images) & set(labels))
    problems = [
        Problem(images[k], f"image without label{' (expected ' + label_hint + ')' if label_hint else ''}")
        for k in sorted(set(images) - set(labels))
    ] + [Problem(labels[k].path, "label without image") for k in sorted(set(labels) - set(images))]
    if problems:
        lines = "\n".join(f"  {p.message}: {p.path}" for p in problems[:30])
        more = f"\n  … and {len(problems) - 30} more" if len(problems) > 30 else ""
        message = f"{name}: {len(problems)} unpaired file(s):\n{lines}{more}"
        if strict:
            raise PairingError(message + "\n(pass strict=False to skip them with a warning)", problems)
        warnings.warn(message + "\n(skipped: strict=False)", stacklevel=3)
    return [images[k] for k in keys], [labels[k] for k in keys], problems


# -------------------------------------------------------------------------- dataset
class PairedFolderDataset(Dataset):
    """Images and labels from file pairs, labels converted to the 19 train ids.

    Args:
        image_paths: image files.
        label_paths: matching label files: :class:`LabelFile` entries, or plain paths
            read with ``label_converter``.
        label_converter: the encoding of plain-path labels.
        domain: the ``domain`` string of every sample, or one string per sample.
        transform: optional sample-dict → sample-dict callable.
        size_mismatch: ``"error"`` (label size ≠ image size raises :class:`LabelError`)
            or ``"resize"`` (warn, resize the label to the image by nearest neighbour).
        unknown_ids: ``"error"`` (default) or ``"ignore"`` (unknown raw ids → 255).
        problems: findings of the build (files skipped by ``strict=False``).
    """

    def __init__(
        self,
        image_paths: Sequence[Path | str],
        label_paths: Sequence[Path | str | LabelFile],
        label_converter: LabelConverter | None = None,
        domain: str | Sequence[str] = "",
        *,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        size_mismatch: SizeMismatch = "error",
        unknown_ids: UnknownIds = "error",
        problems: Sequence[Problem] = (),
    ) -> None:
        if len(image_paths) != len(label_paths):
            raise ValueError(f"{len(image_paths)} images but {len(label_paths)} labels")
        if size_mismatch not in ("error", "resize"):
            raise ValueError(f"size_mismatch must be 'error' or 'resize', got {size_mismatch!r}")
        if unknown_ids not in ("error", "ignore"):
            raise ValueError(f"unknown_ids must be 'error' or 'ignore', got {unknown_ids!r}")
        labels: list[LabelFile] = []
        for p in label_paths:
            if isinstance(p, LabelFile):
                labels.append(p)
            elif label_converter is None:
                raise ValueError("label_converter is required for plain label paths")
            else:
                labels.append(LabelFile(Path(p), label_converter))
        self.image_paths = [Path(p) for p in image_paths]
        self.label_files = labels
        if isinstance(domain, str):
            self.domain, self.domains = domain, [domain] * len(labels)
        else:
            self.domains = [str(d) for d in domain]
            if len(self.domains) != len(labels):
                raise ValueError(f"{len(self.domains)} domains for {len(labels)} samples")
            self.domain = self.domains[0].split("/")[0] if self.domains else ""
        self.transform = transform
        self.size_mismatch = size_mismatch
        self.unknown_ids = unknown_ids
        self.problems = list(problems)
        self._readers = [lf.reader() for lf in labels]
        #: optional class per sample (a GTA split file's ``name,class``): the sample gets
        #: ``sampled_class`` and the training crop is re-drawn until it holds that class
        self.sampled_classes: list[int | None] | None = None

    def __len__(self) -> int:
        return len(self.image_paths)

    @property
    def label_read_paths(self) -> list[Path]:
        """The label file each sample reads (its fresh train-id cache, else the source)."""
        return [path for path, _ in self._readers]

    def load_label(self, index: int, image_hw: tuple[int, int] | None = None) -> np.ndarray:
        """The uint8 train-id label of sample ``index`` (checked against ``image_hw``)."""
        path, converter = self._readers[index]
        label = converter(read_label(path), path, self.unknown_ids)
        if image_hw is not None and label.shape != tuple(image_hw):
            msg = (
                f"{path}: label size {label.shape[1]}x{label.shape[0]} differs from its image "
                f"{self.image_paths[index]} ({image_hw[1]}x{image_hw[0]})"
            )
            if self.size_mismatch == "error":
                raise LabelError(msg)
            warnings.warn(msg + "; label resized (nearest) to the image size", stacklevel=2)
            label = resize_nearest(label, *image_hw)
        return label

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        image = read_image(self.image_paths[index])
        label = self.load_label(index, image.shape[:2])
        sample = {
            "image": torch.from_numpy(image).permute(2, 0, 1).contiguous(),
            "label": torch.from_numpy(label.astype(np.int64)),
            "index": index,
            "path": str(self.image_paths[index]),
            "domain": self.domains[index],
        }
        if self.sampled_classes is not None and self.sampled_classes[index] is not None:
            sample["sampled_class"] = int(self.sampled_classes[index])
        return self.transform(sample) if self.transform is not None else sample

    def __repr__(self) -> str:
        return f"{type(self).__name__}(domain={self.domain!r}, {len(self)} samples)"


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset family (used by build, prepare and error messages)."""

    name: str
    folder: str                   # default folder under the data root
    default_split: str
    layout: str                   # expected layout (text)
    obtain: str                   # how to obtain it (URL-free); "<root>" is substituted
    options: dict[str, str] = field(default_factory=dict)  # builder options: name → meaning

    def require(self, path: Path, root: Path) -> Path:
        """``path`` if it is a folder, else a :class:`DatasetLayoutError` showing this
        dataset's expected layout under ``root`` and how to obtain it."""
        return require_dir(path, self.name, self.layout, self.obtain, root)


@dataclass(frozen=True)
class Folders:
    """One image folder, its label folder and the prefix of their pairing keys."""

    images: Path
    labels: Path
    key: str = ""  # e.g. ACDC's condition: fog/<seq>/<frame> and night/<seq>/<frame> stay apart


@dataclass(frozen=True)
class Pairs:
    """Paired files, the findings about unpaired ones and (optionally) a class per pair."""

    images: list[Path]
    labels: list[LabelFile]
    problems: list[Problem]
    classes: list[int | None] | None = None  # → PairedFolderDataset.sampled_classes


@dataclass(frozen=True)
class DatasetLayout(DatasetInfo):
    """A dataset's published layout as a declaration, read by one generic builder (:meth:`build`).

    Beyond the :class:`DatasetInfo` description (name, default folder and split, the
    expected tree and how to obtain it, the options):

    - ``image_dir``, ``label_dir``: the image and label folders under the dataset root;
      ``{split}`` stands for the split;
    - ``image_suffix``, ``label_suffix``: how image and raw-label file names end; an image
      pairs with the label whose path (relative to its folder) is the same once the
      suffixes are removed;
    - ``label_encoding``: the raw labels' id table, a key of :data:`ENCODINGS` (``ids`` =
      Cityscapes label ids, ``trainids``, ``mapillary``) or a :class:`LabelConverter`;
    - ``trainid_suffix``: the name of a label's train-id cache (key + suffix), read instead
      of the raw label when present and not older (module docstring); by default
      ``X_labelIds.png`` → ``X_labelTrainIds.png`` (cityscapesScripts), else
      ``_labelTrainIds.png`` (mmseg);
    - ``recursive``: files are searched in sub-folders too (``<city>/``, ``<seq>/``);
    - ``label_hint``: how the label of an image is named, in the message about an image
      without one; ``{label_dir}`` = the label folder relative to the root;
    - ``size_mismatch``: the default of the ``size_mismatch`` option.

    Every name in ``options`` is also a field: ``build(root, split, option=value)`` reads
    the layout with that field replaced. A layout with special rules (ACDC's conditions,
    Mapillary's label versions, GTA's split files, generated sets' folder pairs and
    subsets) is a subclass overriding one of the steps :meth:`checked`, :meth:`folders`,
    :meth:`label_files`, :meth:`hint`, :meth:`pair`, :meth:`where`, :meth:`domains`.

    Example:
        >>> toy = DatasetLayout(name="toy", folder="toy", default_split="val", layout="  img/<split>/<name>.jpg",
        ...                     obtain="unpack toy.zip into <root>", image_dir="img/{split}", image_suffix=".jpg")
        >>> toy.build("/nowhere")
        Traceback (most recent call last):
        ...
        flexseg.data.datasets.base.DatasetLayoutError: toy: /nowhere not found.
        Expected layout under /nowhere:
          img/<split>/<name>.jpg
        To obtain it: unpack toy.zip into /nowhere
        ...
    """

    image_dir: str = "images"
    label_dir: str = "labels"
    image_suffix: str = ".png"
    label_suffix: str = ".png"
    label_encoding: str | LabelConverter = "trainids"
    trainid_suffix: str | None = None
    recursive: bool = False
    label_hint: str = "{label_dir}/<name>{label_suffix}"
    size_mismatch: SizeMismatch = "error"

    @property
    def converter(self) -> LabelConverter:
        """The :class:`LabelConverter` of ``label_encoding``."""
        enc = self.label_encoding
        return enc if isinstance(enc, LabelConverter) else ENCODINGS[enc]

    @property
    def cache_suffix(self) -> str:
        """The train-id cache suffix: ``trainid_suffix``, else derived from ``label_suffix``."""
        if self.trainid_suffix is not None:
            return self.trainid_suffix
        if self.label_suffix.endswith("_labelIds.png"):
            return self.label_suffix.removesuffix("labelIds.png") + "labelTrainIds.png"
        return TRAINID_SUFFIX

    def build(
        self,
        root: Path | str,
        split: str | None = None,
        *,
        strict: bool = True,
        size_mismatch: SizeMismatch | None = None,
        unknown_ids: UnknownIds = "error",
        domain: str | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        **options: Any,
    ) -> PairedFolderDataset:
        """The dataset of ``split`` (default: ``default_split``) under its own folder ``root``.

        Args:
            strict: unpaired files raise :class:`PairingError` (False: skipped with a warning).
            size_mismatch: ``"error"`` or ``"resize"`` (default: the layout's).
            unknown_ids: ``"error"`` or ``"ignore"`` (unknown raw ids → 255).
            domain: the samples' ``domain`` (default: the dataset's name).
            transform: optional sample-dict → sample-dict callable.
            options: the layout's own options (``options``), e.g. ACDC's ``conditions``.
        """
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise TypeError(f"{self.name}: unknown option(s) {', '.join(unknown)}; its options: "
                            f"{', '.join(self.options) or 'none'} (and strict, size_mismatch, unknown_ids, domain, transform)")
        split = self.default_split if split is None else str(split)
        layout = (replace(self, **options) if options else self).checked(split)
        return layout.collect(as_path(root), split, strict=strict, size_mismatch=size_mismatch or self.size_mismatch,
                              unknown_ids=unknown_ids, domain=self.name if domain is None else domain, transform=transform)

    def collect(
        self,
        root: Path,
        split: str,
        *,
        strict: bool,
        size_mismatch: SizeMismatch,
        unknown_ids: UnknownIds,
        domain: str,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ) -> PairedFolderDataset:
        """The generic builder: check the folders, index and pair the files, make the dataset."""
        self.require(root, root)
        folders = self.folders(root, split)
        images: dict[str, Path] = {}
        labels: dict[str, LabelFile] = {}
        for f in folders:
            image_dir, label_dir = self.require(f.images, root), self.require(f.labels, root)
            prefix = f"{f.key}/" if f.key else ""
            images.update({prefix + k: p for k, p in index_files(image_dir, self.image_suffix, self.recursive).items()})
            labels.update({prefix + k: lf for k, lf in self.label_files(label_dir).items()})
        pairs = self.pair(root, split, images, labels, strict=strict, label_hint=self.hint(root, folders))
        if not pairs.images:
            raise DatasetLayoutError(f"{self.name}: no image/label pairs found in {self.where(root, split, folders)}.\n"
                                     + expected_layout(self.layout, self.obtain, root))
        dataset = PairedFolderDataset(pairs.images, pairs.labels, None, self.domains(root, pairs.images, domain),
                                      transform=transform, size_mismatch=size_mismatch, unknown_ids=unknown_ids,
                                      problems=pairs.problems)
        if pairs.classes is not None and any(c is not None for c in pairs.classes):
            dataset.sampled_classes = list(pairs.classes)
        return dataset

    # ------------------------------------------------------------ steps a layout may override
    def checked(self, split: str) -> DatasetLayout:
        """The layout with its options checked and normalised (before any file is looked at)."""
        return self

    def folders(self, root: Path, split: str) -> list[Folders]:
        """The image and label folders of ``split`` (each checked to exist, in order)."""
        return [Folders(root / self.image_dir.format(split=split), root / self.label_dir.format(split=split))]

    def label_files(self, folder: Path) -> dict[str, LabelFile]:
        """The labels of one label folder by key, with their encoding and train-id caches."""
        return index_labels(folder, self.label_suffix, self.converter, self.recursive, self.cache_suffix)

    def hint(self, root: Path, folders: Sequence[Folders]) -> str:
        """How an image's label is named (in the message about an image without one)."""
        return self.label_hint.format(label_dir=folders[0].labels.relative_to(root), label_suffix=self.label_suffix)

    def pair(
        self, root: Path, split: str, images: Mapping[str, Path], labels: Mapping[str, LabelFile], *,
        strict: bool, label_hint: str,
    ) -> Pairs:
        """Pair images and labels by key (sorted by key); see :func:`pair_files`."""
        return Pairs(*pair_files(images, labels, name=self.name, strict=strict, label_hint=label_hint))

    def where(self, root: Path, split: str, folders: Sequence[Folders]) -> str:
        """Where images were looked for (in the message when no pair is found)."""
        return str(folders[0].images)

    def domains(self, root: Path, images: Sequence[Path], domain: str) -> str | list[str]:
        """The ``domain`` of the samples: one string, or one per image."""
        return domain


def as_path(root: Path | str | os.PathLike[str]) -> Path:
    """``root`` as an expanded Path."""
    return Path(os.fspath(root)).expanduser()
