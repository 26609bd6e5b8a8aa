"""Benchmark submission files: Cityscapes label-id PNGs named as the test servers expect.

``python -m flexseg.predict ... format=cityscapes|acdc|dark_zurich`` writes, per input
image, one uint8 PNG of Cityscapes *label ids* (train id → label id by
:data:`TRAINID_TO_LABELID`; nothing is left unlabeled, every pixel gets a class),
mirroring the input's sub-folders (``recursive=true``), named:

* ``cityscapes``: ``<city>_<seq>_<frame>_leftImg8bit.png`` → the same name (the
  Cityscapes evaluation script searches the result folder recursively for
  ``<city>_<seq>_<frame>*.png``; the city holds no ``_``, as its file-name parser needs);
* ``acdc``, ``dark_zurich``: ``<name>_rgb_anon.png`` → ``<name>_predlabelIds.png``.

See README.md, "Benchmark submissions", for what was and was not verified.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Cityscapes label id of each of the 19 train ids (cityscapesScripts ``labels.py``).
TRAINID_TO_LABELID: tuple[int, ...] = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


@dataclass(frozen=True)
class SubmissionFormat:
    """How one server names prediction files: input stem suffix → output stem suffix."""
    input_suffix: str
    output_suffix: str
    pattern: str  # the input stem must match it (re.fullmatch)


FORMATS: dict[str, SubmissionFormat] = {
    "cityscapes": SubmissionFormat("_leftImg8bit", "_leftImg8bit", r"[A-Za-z-]+_\d{6}_\d{6}_leftImg8bit"),
    "acdc": SubmissionFormat("_rgb_anon", "_predlabelIds", r".+_rgb_anon"),
    "dark_zurich": SubmissionFormat("_rgb_anon", "_predlabelIds", r".+_rgb_anon"),
}
#: ``format=`` values: ``default`` (colour mask + overlay) and the submission formats.
FORMAT_NAMES: tuple[str, ...] = ("default", *FORMATS)


def to_label_ids(trainid: np.ndarray) -> np.ndarray:
    """uint8 train ids [H,W] (0–18) → Cityscapes label ids; any other value is an error."""
    trainid = np.asarray(trainid)
    bad = (trainid < 0) | (trainid >= len(TRAINID_TO_LABELID))
    if bad.any():
        raise ValueError(f"train ids must be 0–{len(TRAINID_TO_LABELID) - 1}, got {sorted(set(np.unique(trainid[bad]).tolist()))}")
    return np.asarray(TRAINID_TO_LABELID, dtype=np.uint8)[trainid.astype(np.int64)]


def submission_stem(stem: str, fmt: str) -> str:
    """The output file stem for input ``stem`` (no extension) under ``fmt``; a
    :class:`ValueError` names the expected input pattern when ``stem`` does not fit."""
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt} is not one of {', '.join(FORMAT_NAMES)}")
    spec = FORMATS[fmt]
    if not re.fullmatch(spec.pattern, stem):
        example = "<city>_<seq>_<frame>_leftImg8bit" if fmt == "cityscapes" else "<name>_rgb_anon"
        raise ValueError(f"{stem}: format={fmt} expects the test set's own file names ({example}.png)")
    return stem[: -len(spec.input_suffix)] + spec.output_suffix
