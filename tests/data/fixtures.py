"""Writers of tiny dataset trees in the published layouts, with known content.

Each ``write_<dataset>(root, ...)`` creates real PNG/JPG files under ``root`` (the
dataset's own folder, e.g. ``tmp_path / "cityscapes"``) and returns a
:class:`FixtureTree` whose ``expected`` maps every image path (str) to the train-id
label the dataset must yield, computed with the tables below — typed independently of
``flexseg.data.labels`` so a wrong table in the package is caught. Raw labels use every
raw id of their encoding (several raw ids per train id, ids that map to 255).

Usage from any test: ``from tests.data.fixtures import write_tree``;
``write_tree("cityscapes", tmp_path / "cityscapes")``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

#: Cityscapes label id → train id (official cityscapesScripts table), all others → 255.
CS_ID_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                  24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
#: Mapillary v1.2 id → train id, as listed in docs/design.md §2, all others (0..65) → 255.
MAPILLARY_ID_TO_TRAIN = {13: 0, 24: 0, 41: 0, 2: 1, 15: 1, 17: 2, 6: 3, 3: 4, 45: 5, 47: 5, 48: 6,
                         50: 7, 30: 8, 29: 9, 27: 10, 19: 11, 20: 12, 21: 12, 22: 12, 55: 13, 61: 14,
                         54: 15, 58: 16, 57: 17, 52: 18}

CS_IDS = list(range(34))
MAPILLARY_IDS = list(range(66))
TRAIN_IDS = [*range(19), 255]


@dataclass
class FixtureTree:
    """A written tree: its root, expected train ids and exact image content per image path."""

    root: Path
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)   # lossless (PNG) images only
    labels: dict[str, Path] = field(default_factory=dict)         # image path → raw label file

    def add(self, image_path: Path, image: np.ndarray, label_path: Path, expected: np.ndarray, lossless: bool) -> None:
        self.expected[str(image_path)] = expected
        self.labels[str(image_path)] = label_path
        if lossless:
            self.images[str(image_path)] = image


def to_train(raw: np.ndarray, table: dict[int, int]) -> np.ndarray:
    """Reference conversion, pixel by pixel semantics via a dict lookup."""
    out = np.full(raw.shape, 255, dtype=np.uint8)
    for value in np.unique(raw):
        out[raw == value] = table.get(int(value), 255)
    return out


def make_raw_label(size: tuple[int, int], values: Sequence[int], seed: int, block: int = 2) -> np.ndarray:
    """A (W,H)-sized uint8 label of ``block``×``block`` cells cycling through ``values``
    (all of them when the image has enough cells) in a seed-dependent order."""
    w, h = size
    rng = np.random.default_rng(seed)
    ch, cw = -(-h // block), -(-w // block)
    cells = np.resize(rng.permutation(np.asarray(values)), ch * cw).reshape(ch, cw)
    return np.kron(cells, np.ones((block, block), dtype=np.int64))[:h, :w].astype(np.uint8)


def make_image(train_ids: np.ndarray, seed: int) -> np.ndarray:
    """An RGB uint8 image: a colour per train id plus seed-dependent noise."""
    rng = np.random.default_rng(seed + 1000)
    colours = rng.integers(0, 200, size=(256, 3))
    noise = rng.integers(0, 50, size=(*train_ids.shape, 3))
    return (colours[train_ids] + noise).astype(np.uint8)


def save_png(path: Path, array: np.ndarray, palette: bool = False) -> Path:
    """Save a uint8 array as PNG: mode RGB / L, or mode P (palette indices = values) for labels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette:
        img = Image.frombytes("P", (array.shape[1], array.shape[0]), np.ascontiguousarray(array).tobytes())
        img.putpalette([c for i in range(256) for c in ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)])
    else:
        img = Image.fromarray(np.ascontiguousarray(array))
    img.save(path, format="PNG")
    return path


def save_jpg(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="JPEG", quality=95)
    return path


def _pair(tree: FixtureTree, image_path: Path, label_path: Path, size: tuple[int, int], values: Sequence[int],
          table: dict[int, int] | None, seed: int, *, jpg: bool = False, palette: bool = False) -> None:
    raw = make_raw_label(size, values, seed)
    expected = to_train(raw, table) if table is not None else raw.copy()
    image = make_image(expected, seed)
    (save_jpg if jpg else save_png)(image_path, image)
    save_png(label_path, raw, palette=palette)
    tree.add(image_path, image, label_path, expected, lossless=not jpg)


# ---------------------------------------------------------------------------- layouts
def write_gta(root: Path, n: int = 3, size: tuple[int, int] = (32, 18), seed: int = 0) -> FixtureTree:
    """``images/%05d.png`` + ``labels/%05d.png`` (palette PNG, Cityscapes ids)."""
    tree = FixtureTree(Path(root))
    for i in range(1, n + 1):
        _pair(tree, tree.root / "images" / f"{i:05d}.png", tree.root / "labels" / f"{i:05d}.png",
              size, CS_IDS, CS_ID_TO_TRAIN, seed + i, palette=True)
    return tree


def write_cityscapes(root: Path, split: str = "val", cities: Sequence[str] = ("aachen", "bochum"), per_city: int = 2,
                     size: tuple[int, int] = (32, 16), seed: int = 0, label_kind: str = "labelIds") -> FixtureTree:
    """``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` + ``gtFine/.../*_gtFine_<label_kind>.png``
    (label_kind ``labelIds`` or ``labelTrainIds``), plus a colour map that must be ignored."""
    tree = FixtureTree(Path(root))
    for c, city in enumerate(cities):
        for j in range(per_city):
            stem = f"{city}_{c:06d}_{j:06d}"
            image_path = tree.root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
            label_path = tree.root / "gtFine" / split / city / f"{stem}_gtFine_{label_kind}.png"
            if label_kind == "labelIds":
                _pair(tree, image_path, label_path, size, CS_IDS, CS_ID_TO_TRAIN, seed + 10 * c + j)
            else:
                _pair(tree, image_path, label_path, size, TRAIN_IDS, None, seed + 10 * c + j)
            colour = np.zeros((size[1], size[0], 3), dtype=np.uint8) + 77
            save_png(tree.root / "gtFine" / split / city / f"{stem}_gtFine_color.png", colour)
    return tree


ACDC_CONDITIONS = ("fog", "night", "rain", "snow")


def write_acdc(root: Path, split: str = "val", conditions: Sequence[str] = ACDC_CONDITIONS, per_condition: int = 1,
               size: tuple[int, int] = (32, 18), seed: int = 0) -> FixtureTree:
    """``rgb_anon/<cond>/<split>/<seq>/*_rgb_anon.png`` + ``gt/<cond>/<split>/<seq>/*_gt_labelIds.png``
    (+ a ``<split>_ref`` reference frame that must be ignored)."""
    tree = FixtureTree(Path(root))
    for c, cond in enumerate(conditions):
        seq = f"GOPR{c:04d}"
        for j in range(per_condition):
            stem = f"{seq}_frame_{j:06d}"
            _pair(tree, tree.root / "rgb_anon" / cond / split / seq / f"{stem}_rgb_anon.png",
                  tree.root / "gt" / cond / split / seq / f"{stem}_gt_labelIds.png",
                  size, CS_IDS, CS_ID_TO_TRAIN, seed + 10 * c + j)
        ref = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        save_png(tree.root / "rgb_anon" / cond / f"{split}_ref" / seq / f"{seq}_frame_000000_ref_rgb_anon.png", ref)
    return tree


def write_dark_zurich(root: Path, split: str = "val", n: int = 2, size: tuple[int, int] = (32, 18),
                      seed: int = 0) -> FixtureTree:
    """``rgb_anon/<split>/night/<seq>/*_rgb_anon.png`` + ``gt/<split>/night/<seq>/*_gt_labelIds.png``."""
    tree = FixtureTree(Path(root))
    for j in range(n):
        seq = "GOPR0356"
        stem = f"{seq}_frame_{j:06d}"
        _pair(tree, tree.root / "rgb_anon" / split / "night" / seq / f"{stem}_rgb_anon.png",
              tree.root / "gt" / split / "night" / seq / f"{stem}_gt_labelIds.png",
              size, CS_IDS, CS_ID_TO_TRAIN, seed + j)
    return tree


def write_bdd100k(root: Path, split: str = "val", n: int = 2, size: tuple[int, int] = (32, 18),
                  seed: int = 0) -> FixtureTree:
    """``images/10k/<split>/*.jpg`` + ``labels/sem_seg/masks/<split>/*.png`` (train ids, 255)."""
    tree = FixtureTree(Path(root))
    for j in range(n):
        stem = f"7d2f7975-e0c1c5{j:02d}"
        _pair(tree, tree.root / "images" / "10k" / split / f"{stem}.jpg",
              tree.root / "labels" / "sem_seg" / "masks" / split / f"{stem}.png",
              size, TRAIN_IDS, None, seed + j, jpg=True)
    return tree


def write_mapillary(root: Path, split: str = "validation", n: int = 2, size: tuple[int, int] = (32, 24),
                    seed: int = 0, labels_subdir: str = "v1.2/labels",
                    sizes: Sequence[tuple[int, int]] | None = None) -> FixtureTree:
    """``<split>/images/*.jpg`` + ``<split>/v1.2/labels/*.png`` (palette PNG, v1.2 ids 0..65);
    ``sizes`` gives each image its own (W, H) (Mapillary's sizes and aspect ratios vary)."""
    tree = FixtureTree(Path(root))
    sizes = list(sizes) if sizes is not None else [size] * n
    for j, wh in enumerate(sizes):
        stem = f"mv{j:04d}xYz"
        _pair(tree, tree.root / split / "images" / f"{stem}.jpg",
              tree.root / split / labels_subdir / f"{stem}.png",
              wh, MAPILLARY_IDS, MAPILLARY_ID_TO_TRAIN, seed + j, jpg=True, palette=True)
    return tree


def write_generated(root: Path, n: int = 4, size: tuple[int, int] = (16, 16), seed: int = 0,
                    image_dir: str = "images", label_dir: str = "labels", image_suffix: str = ".png",
                    label_suffix: str = "_labelTrainIds.png", label_encoding: str = "trainids") -> FixtureTree:
    """``<image_dir>/<name><image_suffix>`` + ``<label_dir>/<name><label_suffix>``."""
    tree = FixtureTree(Path(root))
    ids = label_encoding == "ids"
    for j in range(n):
        name = f"gen_{j:05d}"
        _pair(tree, tree.root / image_dir / f"{name}{image_suffix}", tree.root / label_dir / f"{name}{label_suffix}",
              size, CS_IDS if ids else TRAIN_IDS, CS_ID_TO_TRAIN if ids else None, seed + j)
    return tree


WRITERS = {
    "gta": write_gta,
    "cityscapes": write_cityscapes,
    "acdc": write_acdc,
    "dark_zurich": write_dark_zurich,
    "bdd100k": write_bdd100k,
    "mapillary": write_mapillary,
    "generated": write_generated,
}

#: the split each writer uses by default (pass it to ``build``)
DEFAULT_SPLITS = {"gta": "all", "cityscapes": "val", "acdc": "val", "dark_zurich": "val", "bdd100k": "val",
                  "mapillary": "validation", "generated": "train"}


def write_tree(name: str, root: Path, **kwargs) -> FixtureTree:
    """Write a tiny tree of dataset ``name`` (a key of :data:`WRITERS`) under ``root``."""
    return WRITERS[name](Path(root), **kwargs)


def write_all(data_dir: Path) -> dict[str, FixtureTree]:
    """Every real dataset under ``data_dir/<default folder>`` (as ``paths.data_dir`` expects)."""
    folders = {"gta": "gta", "cityscapes": "cityscapes", "acdc": "acdc", "dark_zurich": "dark_zurich",
               "bdd100k": "bdd100k", "mapillary": "mapillary", "generated": "dginstyle"}
    return {name: write_tree(name, Path(data_dir) / folder) for name, folder in folders.items()}


#: the published resolutions (W, H) used by :func:`write_rehearsal` (docs/data_protocol.md)
REAL_SIZES = {"gta": (1914, 1052), "generated": (512, 512), "cityscapes": (2048, 1024), "acdc": (1920, 1080),
              "dark_zurich": (1920, 1080), "bdd100k": (1280, 720), "mapillary": [(1600, 1200), (1920, 1080)]}


def write_rehearsal(data_dir: Path, generated_folders: Sequence[str] = ("dginstyle",)) -> dict[str, FixtureTree]:
    """Every published layout at its real resolution and encoding, the fewest images that
    exercise it: GTA 2 frames 1914×1052 (palette PNG labels, Cityscapes ids), a generated
    set of 2 images 512² (train-id labels) per folder of ``generated_folders``, Cityscapes
    1 ``leftImg8bit`` 2048×1024 with ``gtFine`` labelIds, ACDC 1 night frame and Dark
    Zurich 1 frame 1920×1080, BDD100K 1 JPEG 1280×720, Mapillary 2 JPEGs (4:3 1600×1200
    and 16:9 1920×1080, v1.2 palette labels)."""
    data_dir = Path(data_dir)
    trees = {
        "gta": write_gta(data_dir / "gta", n=2, size=REAL_SIZES["gta"]),
        "cityscapes": write_cityscapes(data_dir / "cityscapes", cities=("frankfurt",), per_city=1,
                                       size=REAL_SIZES["cityscapes"]),
        "acdc": write_acdc(data_dir / "acdc", conditions=("night",), size=REAL_SIZES["acdc"]),
        "dark_zurich": write_dark_zurich(data_dir / "dark_zurich", n=1, size=REAL_SIZES["dark_zurich"]),
        "bdd100k": write_bdd100k(data_dir / "bdd100k", n=1, size=REAL_SIZES["bdd100k"]),
        "mapillary": write_mapillary(data_dir / "mapillary", sizes=REAL_SIZES["mapillary"]),
    }
    for k, folder in enumerate(generated_folders):
        trees[folder] = write_generated(data_dir / folder, n=2, size=REAL_SIZES["generated"], seed=100 * k)
    return trees
