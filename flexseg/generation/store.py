"""Output folder of a generation run (read by ``flexseg.data.datasets.build("generated", OUT)``).

```
OUT/images/<name>.png                  RGB, resolution²
OUT/labels/<name>_labelTrainIds.png    the crop's train ids (uint8, 255 = ignore)
OUT/meta/<name>.json                   the image's manifest record, written last = "done"
OUT/manifest.jsonl                     every done record, sorted by index (rebuilt from meta/)
OUT/generation.json                    the arguments that define the set (checked on resume)
OUT/preview.png                        a few image / label pairs
```
Every file is written to a hidden temporary name and renamed, so an interrupted run never
leaves a half-written file under a final name; an image counts as done only when its
meta record exists, and the manifest only ever lists done images.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from flexseg.data.datasets.base import TRAINID_SUFFIX
from flexseg.data.labels import colorize
from flexseg.generation.plan import atomic_write_text, temp_path


class OutputMismatchError(ValueError):
    """The output folder was started with other arguments; the message lists them."""


def paths(out: Path, name: str) -> dict[str, Path]:
    """The image, label and meta paths of ``name`` under ``out``."""
    return {"image": out / "images" / f"{name}.png", "label": out / "labels" / f"{name}{TRAINID_SUFFIX}",
            "meta": out / "meta" / f"{name}.json"}


def _save_png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG")


def atomic_save_png(path: Path, array: np.ndarray) -> None:
    """Save a uint8 [H,W] or [H,W,3] array as PNG through a temporary file + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    _save_png(tmp, array)
    os.replace(tmp, path)


def is_done(out: Path, name: str) -> bool:
    """True when image, label and meta record of ``name`` all exist."""
    return all(p.is_file() for p in paths(out, name).values())


def remove_stale_temporaries(out: Path, name: str) -> None:
    """Delete temporary files of ``name`` left by an interrupted process (hidden ``.<file>.<pid>.tmp``)."""
    for p in paths(out, name).values():
        if p.parent.is_dir():
            for stale in p.parent.glob(f".{p.name}.*.tmp"):
                stale.unlink(missing_ok=True)


def write_sample(out: Path, name: str, image: np.ndarray, label: np.ndarray, record: Mapping[str, Any]) -> None:
    """Write one generated sample: both PNGs are encoded to temporary files first and then
    renamed back to back; the meta record goes last (it marks the sample done)."""
    p = paths(out, name)
    remove_stale_temporaries(out, name)
    for key in ("image", "label"):
        p[key].parent.mkdir(parents=True, exist_ok=True)
    _save_png(temp_path(p["image"]), image)
    _save_png(temp_path(p["label"]), label.astype(np.uint8))
    os.replace(temp_path(p["image"]), p["image"])
    os.replace(temp_path(p["label"]), p["label"])
    atomic_write_text(p["meta"], json.dumps(dict(record), sort_keys=True))


def read_records(out: Path) -> list[dict[str, Any]]:
    """Records of every done sample, sorted by index."""
    meta = out / "meta"
    records = []
    if meta.is_dir():
        for f in meta.iterdir():
            if f.name.startswith(".") or f.suffix != ".json":
                continue
            rec = json.loads(f.read_text())
            if is_done(out, rec["name"]):
                records.append(rec)
    return sorted(records, key=lambda r: r["index"])


def rebuild_manifest(out: Path) -> int:
    """Rewrite ``manifest.jsonl`` atomically from the done records; returns their number."""
    records = read_records(out)
    atomic_write_text(out / "manifest.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    return len(records)


def check_run_arguments(out: Path, arguments: Mapping[str, Any]) -> None:
    """Record ``arguments`` in ``generation.json`` or check them against an earlier run.

    A resumed or sharded run must use the same arguments as the images already there;
    only ``num_images`` may grow (indices are independent)."""
    path = out / "generation.json"
    if path.is_file():
        old = json.loads(path.read_text())
        diff = {k: (old.get(k), v) for k, v in arguments.items() if k != "num_images" and old.get(k) != v}
        if diff:
            lines = "\n".join(f"  {k}: {a!r} there, {b!r} now" for k, (a, b) in sorted(diff.items()))
            raise OutputMismatchError(f"{out} holds images generated with other arguments ({path}):\n{lines}\n"
                                      "Use another output_dir, or the same arguments to resume.")
        if arguments.get("num_images", 0) > old.get("num_images", 0):
            atomic_write_text(path, json.dumps(dict(arguments), indent=2, sort_keys=True))
    else:
        atomic_write_text(path, json.dumps(dict(arguments), indent=2, sort_keys=True))


def preview_grid(pairs: Iterable[tuple[np.ndarray, np.ndarray]], tile: int = 256) -> np.ndarray:
    """uint8 [2·tile, n·tile, 3]: generated images on top, coloured labels below."""
    cols = []
    for image, label in pairs:
        img = np.asarray(Image.fromarray(image).resize((tile, tile), Image.BILINEAR))
        lab = np.asarray(Image.fromarray(colorize(label)).resize((tile, tile), Image.NEAREST))
        cols.append(np.concatenate([img, lab], axis=0))
    if not cols:
        raise ValueError("preview_grid needs at least one image/label pair")
    return np.concatenate(cols, axis=1)


def write_preview(out: Path, records: list[dict[str, Any]], count: int, tile: int = 256) -> Path | None:
    """``OUT/preview.png`` from the first ``count`` done records (None when there are none)."""
    chosen = records[:count]
    if not chosen:
        return None
    pairs = []
    for rec in chosen:
        p = paths(out, rec["name"])
        pairs.append((np.asarray(Image.open(p["image"]).convert("RGB")), np.asarray(Image.open(p["label"]))))
    target = out / "preview.png"
    atomic_save_png(target, preview_grid(pairs, tile))
    return target
