"""ACDC: ``rgb_anon/<cond>/<split>/<seq>/*_rgb_anon.png`` + ``gt/<cond>/<split>/<seq>/*_gt_labelIds.png``.

Conditions fog, night, rain, snow (option ``conditions``, default all four).
``*_gt_labelTrainIds.png`` (shipped with ACDC, or written by prepare --cache) is
preferred when present and not older than its labelIds file. The ``<split>_ref``
folders (reference daytime frames) are not used.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flexseg.data.datasets.base import (
    CITYSCAPES_IDS,
    DatasetInfo,
    LabelFile,
    PairedFolderDataset,
    as_path,
    finish,
    index_files,
    index_labels,
    pair_files,
)

CONDITIONS: tuple[str, ...] = ("fog", "night", "rain", "snow")

INFO = DatasetInfo(
    name="acdc",
    folder="acdc",
    default_split="val",
    layout=(
        "  rgb_anon/<fog|night|rain|snow>/<split>/<seq>/<seq>_frame_<n>_rgb_anon.png\n"
        "  gt/<fog|night|rain|snow>/<split>/<seq>/<seq>_frame_<n>_gt_labelIds.png\n"
        "  gt/…/<seq>_frame_<n>_gt_labelTrainIds.png   (optional, preferred)"
    ),
    obtain=(
        "download rgb_anon_trainvaltest.zip and gt_trainval.zip from the ACDC website "
        "(registration required) and unpack both into <root>"
    ),
    options={"conditions": "subset of fog, night, rain, snow", "per_condition_domain": "domain 'acdc/<cond>'"},
)


def parse_conditions(conditions: str | Iterable[str] | None) -> list[str]:
    """Normalise the ``conditions`` option ("fog,night", a list, or None = all four)."""
    if conditions is None:
        return list(CONDITIONS)
    items = conditions.split(",") if isinstance(conditions, str) else list(conditions)
    items = [str(c).strip() for c in items if str(c).strip()]
    unknown = [c for c in items if c not in CONDITIONS]
    if unknown or not items:
        raise ValueError(f"acdc: unknown condition(s) {unknown or items}; choose from {list(CONDITIONS)}")
    return items


def build_acdc(
    root: Path | str,
    split: str = "val",
    *,
    conditions: str | Iterable[str] | None = None,
    per_condition_domain: bool = False,
    strict: bool = True,
    size_mismatch: str = "error",
    unknown_ids: str = "error",
    domain: str = "acdc",
    transform: Any = None,
) -> PairedFolderDataset:
    """ACDC ``split`` of the given conditions (domain ``acdc`` or ``acdc/<cond>``)."""
    root = as_path(root)
    conds = parse_conditions(conditions)
    INFO.require(root, root)
    images: dict[str, Path] = {}
    labels: dict[str, LabelFile] = {}
    for cond in conds:
        image_dir = INFO.require(root / "rgb_anon" / cond / split, root)
        label_dir = INFO.require(root / "gt" / cond / split, root)
        images.update({f"{cond}/{k}": p for k, p in index_files(image_dir, "_rgb_anon.png", recursive=True).items()})
        labels.update({
            f"{cond}/{k}": lf
            for k, lf in index_labels(label_dir, "_gt_labelIds.png", CITYSCAPES_IDS, recursive=True,
                                      trainid_suffix="_gt_labelTrainIds.png").items()
        })
    imgs, lbls, problems = pair_files(images, labels, name=INFO.name, strict=strict,
                                      label_hint="gt/<cond>/<split>/<seq>/*_gt_labelIds.png")
    where = f"{root}/rgb_anon/{{{','.join(conds)}}}/{split}"
    domains: str | list[str] = domain
    if per_condition_domain:
        domains = [f"{domain}/{p.relative_to(root / 'rgb_anon').parts[0]}" for p in imgs]
    return finish(INFO, root, imgs, lbls, problems, domains, where=where, transform=transform,
                  size_mismatch=size_mismatch, unknown_ids=unknown_ids)  # type: ignore[arg-type]
