"""ACDC: ``rgb_anon/<cond>/<split>/<seq>/*_rgb_anon.png`` + ``gt/<cond>/<split>/<seq>/*_gt_labelIds.png``.

Conditions fog, night, rain, snow (option ``conditions``, default all four).
``*_gt_labelTrainIds.png`` (shipped with ACDC, or written by prepare --cache) is
preferred when present and not older than its labelIds file. The ``<split>_ref``
folders (reference daytime frames) are not used.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from flexseg.data.datasets.base import DatasetLayout, Folders

CONDITIONS: tuple[str, ...] = ("fog", "night", "rain", "snow")


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


@dataclass(frozen=True)
class AcdcLayout(DatasetLayout):
    """One image/label folder pair per condition (``{condition}`` in the folder names);
    the domain ``acdc`` or, with ``per_condition_domain``, ``acdc/<cond>``."""

    conditions: str | Iterable[str] | None = None
    per_condition_domain: bool = False

    def checked(self, split: str) -> AcdcLayout:
        return replace(self, conditions=tuple(parse_conditions(self.conditions)))

    def folders(self, root: Path, split: str) -> list[Folders]:
        return [Folders(root / self.image_dir.format(condition=c, split=split),
                        root / self.label_dir.format(condition=c, split=split), key=c)
                for c in self.conditions]  # type: ignore[union-attr]

    def where(self, root: Path, split: str, folders: Sequence[Folders]) -> str:
        return f"{root}/rgb_anon/{{{','.join(f.key for f in folders)}}}/{split}"

    def domains(self, root: Path, images: Sequence[Path], domain: str) -> str | list[str]:
        if not self.per_condition_domain:
            return domain
        return [f"{domain}/{p.relative_to(root / 'rgb_anon').parts[0]}" for p in images]


ACDC = AcdcLayout(
    name="acdc", folder="acdc", default_split="val",
    image_dir="rgb_anon/{condition}/{split}", image_suffix="_rgb_anon.png",
    label_dir="gt/{condition}/{split}", label_suffix="_gt_labelIds.png", label_encoding="ids",
    recursive=True, label_hint="gt/<cond>/<split>/<seq>/*_gt_labelIds.png",
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
