"""A dataset's classes from a YAML file, and the config resolvers that read it.

The file is a YAML list in train-id order, one ``{name: str, color: [R, G, B]}`` per
class; label value 255 is ignored (docs/custom_data.md). ``data=custom`` reads it with
``${classes.count:FILE}``, ``${classes.names:FILE}`` and ``${classes.colors:FILE}``, so the
class count reaches the network head, GAP's prototype bank and the metrics from one file.
Without a class file everything uses the 19 Cityscapes classes of :mod:`flexseg.data.labels`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flexseg.data.labels import CLASS_NAMES, IGNORE_INDEX, PALETTE

__all__ = ["ClassFileError", "ClassSet", "CITYSCAPES", "load_classes", "register_resolvers"]


class ClassFileError(ValueError):
    """A class file that is missing or not a list of ``{name, color}``."""


@dataclass(frozen=True)
class ClassSet:
    """Class names and RGB colours, index = train id."""

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]

    def __len__(self) -> int:
        return len(self.names)


CITYSCAPES = ClassSet(CLASS_NAMES, PALETTE)


def _color(value: object, where: str) -> tuple[int, int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)):
        raise ClassFileError(f"{where}: color must be [R, G, B] with integers 0–255, got {value!r}")
    return int(value[0]), int(value[1]), int(value[2])


def load_classes(path: str | Path) -> ClassSet:
    """Read and check a class file: a non-empty YAML list of ``{name, color}`` (unique
    names, at most 255 classes since 255 is the ignore value)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ClassFileError(f"class file {path} does not exist (data.classes=FILE: a YAML list of {{name, color}})")
    try:
        entries = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ClassFileError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(entries, list) or not entries:
        raise ClassFileError(f"{path}: expected a non-empty YAML list of {{name: ..., color: [R, G, B]}}, one per "
                             f"train id, got {type(entries).__name__}")
    if len(entries) > IGNORE_INDEX:
        raise ClassFileError(f"{path}: {len(entries)} classes; at most {IGNORE_INDEX} ({IGNORE_INDEX} is the ignore value)")
    names, colors = [], []
    for i, entry in enumerate(entries):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict) or set(entry) != {"name", "color"}:
            raise ClassFileError(f"{where}: expected exactly the keys name and color, got {entry!r}")
        if not isinstance(entry["name"], str) or not entry["name"].strip():
            raise ClassFileError(f"{where}: name must be a non-empty string, got {entry['name']!r}")
        names.append(entry["name"].strip())
        colors.append(_color(entry["color"], where))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ClassFileError(f"{path}: class names must be unique; repeated: {', '.join(dupes)}")
    return ClassSet(tuple(names), tuple(colors))


def register_resolvers() -> None:
    """Register ``classes.count``, ``classes.names`` and ``classes.colors`` (idempotent)."""
    from omegaconf import OmegaConf

    resolvers = {
        "classes.count": lambda f: len(load_classes(f)),
        "classes.names": lambda f: list(load_classes(f).names),
        "classes.colors": lambda f: [list(c) for c in load_classes(f).colors],
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
