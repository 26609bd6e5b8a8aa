"""How well image edges follow label boundaries: ``python -m flexseg.analysis.alignment ROOT [ROOT …]``.

For every labelled pixel in a boundary band (``flexseg.flex.boundaries``, kernels
3/5/7 by default: ring 0 = thin = the label boundary itself, rings 1, 2 = farther out), the
Euclidean distance (pixels) to the nearest image edge (Canny via kornia on the grey image,
then an exact distance transform). Aggregated per class of the pixel and per ring:
mean distance and the fraction within ``tolerance`` pixels; the same for interior pixels
(far from any label boundary) as the chance level of an image with that edge density. A
generated set whose images follow its masks has ring-0 distances well below its interior
level; GTA (rendered, pixel-exact) is the reference.

Writes ``alignment.json``, ``alignment.md``, ``alignment.csv`` and ``alignment.png`` to
``--out`` (see ``docs/generation.md``).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flexseg.data.labels import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES


def canny_edges(image: np.ndarray, low: float = 0.1, high: float = 0.2, sigma: float = 1.0) -> np.ndarray:
    """bool [H,W] Canny edges of a uint8 [H,W,3] RGB image (kornia, grey in [0,1])."""
    import kornia

    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
    grey = kornia.color.rgb_to_grayscale(x)
    _, edges = kornia.filters.canny(grey, low_threshold=low, high_threshold=high, sigma=(sigma, sigma))
    return edges[0, 0].numpy() > 0


def edge_distance(edges: np.ndarray) -> np.ndarray:
    """float64 [H,W]: Euclidean distance of every pixel to the nearest edge pixel (inf: no edge)."""
    edges = np.asarray(edges, dtype=bool)
    if not edges.any():
        return np.full(edges.shape, np.inf)
    from scipy import ndimage

    return ndimage.distance_transform_edt(~edges)


def ring_map(label: np.ndarray, kernel_sizes: Sequence[int] = (3, 5, 7)) -> np.ndarray:
    """int64 [H,W]: boundary ring of each pixel (0 thin … G−1), −1 interior or ignored."""
    from flexseg.flex.boundaries import granularity_map

    lab = torch.from_numpy(np.asarray(label).astype(np.int64))[None]
    return granularity_map(lab, tuple(kernel_sizes), IGNORE_INDEX)[0].numpy()


@dataclass
class AlignmentCounts:
    """Sums over pixels, indexed [class, ring]: count, distance sum, count within tolerance, no-edge count."""

    num_rings: int
    count: np.ndarray = field(init=False)
    dist_sum: np.ndarray = field(init=False)
    within: np.ndarray = field(init=False)
    images: int = 0
    interior: np.ndarray = field(init=False)  # [count, distance sum, within] of interior labelled pixels
    edge_pixels: int = 0
    pixels: int = 0

    def __post_init__(self) -> None:
        shape = (NUM_CLASSES, self.num_rings)
        self.count = np.zeros(shape, dtype=np.int64)
        self.dist_sum = np.zeros(shape, dtype=np.float64)
        self.within = np.zeros(shape, dtype=np.int64)
        self.interior = np.zeros(3, dtype=np.float64)

    def add(self, dist: np.ndarray, label: np.ndarray, rings: np.ndarray, tolerance: float) -> None:
        """Accumulate one image: ``dist`` [H,W] edge distances, ``label`` train ids, ``rings`` from :func:`ring_map`.

        Images without any edge (all distances inf) contribute counts only, with the
        distance capped at the image diagonal."""
        h, w = label.shape
        cap = float(np.hypot(h, w))
        sel = (rings >= 0) & (label != IGNORE_INDEX)
        c = label[sel].astype(np.int64)
        g = rings[sel].astype(np.int64)
        d = np.minimum(dist[sel], cap)
        flat = c * self.num_rings + g
        size = NUM_CLASSES * self.num_rings
        self.count += np.bincount(flat, minlength=size).reshape(NUM_CLASSES, self.num_rings)
        self.dist_sum += np.bincount(flat, weights=d, minlength=size).reshape(NUM_CLASSES, self.num_rings)
        self.within += np.bincount(flat, weights=(d <= tolerance), minlength=size).astype(np.int64).reshape(
            NUM_CLASSES, self.num_rings)
        inner = (rings < 0) & (label != IGNORE_INDEX)
        d_in = np.minimum(dist[inner], cap)
        self.interior += (inner.sum(), d_in.sum(), (d_in <= tolerance).sum())
        self.edge_pixels += int((dist == 0).sum())
        self.pixels += h * w
        self.images += 1

    def summary(self) -> dict[str, Any]:
        """Mean distance (px) and within-tolerance fraction per ring, per class (rings merged), overall ring 0."""
        def ratio(a: np.ndarray, b: np.ndarray) -> list[float | None]:
            return [float(x) / float(y) if y else None for x, y in zip(np.atleast_1d(a), np.atleast_1d(b))]

        per_ring = {"mean_distance": ratio(self.dist_sum.sum(0), self.count.sum(0)),
                    "within_tolerance": ratio(self.within.sum(0), self.count.sum(0)),
                    "pixels": self.count.sum(0).tolist()}
        thin = (self.dist_sum[:, 0], self.within[:, 0], self.count[:, 0])
        per_class = {CLASS_NAMES[c]: {"mean_distance": ratio(thin[0][c], thin[2][c])[0],
                                      "within_tolerance": ratio(thin[1][c], thin[2][c])[0],
                                      "pixels": int(thin[2][c])} for c in range(NUM_CLASSES)}
        n_in = self.interior[0]
        interior = {"mean_distance": self.interior[1] / n_in if n_in else None,
                    "within_tolerance": self.interior[2] / n_in if n_in else None, "pixels": int(n_in)}
        return {"images": self.images, "per_ring": per_ring, "per_class_thin": per_class, "interior": interior,
                "edge_density": self.edge_pixels / self.pixels if self.pixels else None}


def analyze_dataset(dataset: Any, max_images: int | None, tolerance: float, kernel_sizes: Sequence[int],
                    low: float, high: float) -> AlignmentCounts:
    """Counts over up to ``max_images`` samples of ``dataset`` (evenly spaced, deterministic)."""
    n = len(dataset)
    picks = range(n) if not max_images or max_images >= n else np.linspace(0, n - 1, max_images).round().astype(int)
    counts = AlignmentCounts(len(kernel_sizes))
    for i in picks:
        s = dataset[int(i)]
        image = s["image"].permute(1, 2, 0).numpy().astype(np.uint8)
        label = s["label"].numpy()
        counts.add(edge_distance(canny_edges(image, low, high)), label, ring_map(label, kernel_sizes), tolerance)
    return counts


def infer_kind(root: Path) -> str:
    """``generated`` when every label is a ``*_labelTrainIds.png`` file, else ``gta``."""
    labels = root / "labels"
    names = [p.name for p in labels.iterdir() if p.suffix == ".png"] if labels.is_dir() else []
    return "generated" if names and all(n.endswith("_labelTrainIds.png") for n in names) else "gta"


def tables(results: dict[str, dict[str, Any]], tolerance: float) -> tuple[list[str], list[list[Any]]]:
    """One row per (set, group): group = ring r or a class (thin ring)."""
    header = ["set", "group", "pixels", "mean distance (px)", f"within {tolerance:g} px (%)"]
    rows: list[list[Any]] = []
    for name, res in results.items():
        ring = res["per_ring"]
        for r, (d, w, n) in enumerate(zip(ring["mean_distance"], ring["within_tolerance"], ring["pixels"])):
            rows.append([name, f"ring {r}", n, None if d is None else round(d, 3),
                         None if w is None else round(100 * w, 2)])
        inner = res["interior"]
        if inner["pixels"]:
            rows.append([name, "interior (chance level)", inner["pixels"], round(inner["mean_distance"], 3),
                         round(100 * inner["within_tolerance"], 2)])
        for cls, v in res["per_class_thin"].items():
            if v["pixels"]:
                rows.append([name, cls, v["pixels"], round(v["mean_distance"], 3), round(100 * v["within_tolerance"], 2)])
    return header, rows


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    """Grouped bars: thin-ring mean distance per class, one bar per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4))
    width = 0.8 / max(1, len(results))
    x = np.arange(NUM_CLASSES)
    for k, (name, res) in enumerate(results.items()):
        vals = [res["per_class_thin"][c]["mean_distance"] or 0.0 for c in CLASS_NAMES]
        ax.bar(x + k * width, vals, width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, CLASS_NAMES, rotation=60, ha="right")
    ax.set_ylabel("label boundary → nearest image edge (px)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    from flexseg.data.datasets import build
    from flexseg.utils.tables import markdown_table, write_csv

    ap = argparse.ArgumentParser(prog="python -m flexseg.analysis.alignment", description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", type=Path, help="generated set (OUT) or GTA folders")
    ap.add_argument("--kind", choices=["auto", "generated", "gta"], default="auto")
    ap.add_argument("--max-images", type=int, default=200, help="images per set, evenly spaced (0 = all)")
    ap.add_argument("--tolerance", type=float, default=2.0, help="pixels")
    ap.add_argument("--kernel-sizes", type=int, nargs="+", default=[3, 5, 7])
    ap.add_argument("--canny-low", type=float, default=0.1)
    ap.add_argument("--canny-high", type=float, default=0.2)
    ap.add_argument("--out", type=Path, default=Path("alignment"))
    args = ap.parse_args(argv)
    results = {}
    for root in args.roots:
        if not root.is_dir():
            raise SystemExit(f"alignment: {root} is not a folder (expected images/ + labels/)")
        kind = infer_kind(root) if args.kind == "auto" else args.kind
        ds = build(kind, root)
        counts = analyze_dataset(ds, args.max_images, args.tolerance, args.kernel_sizes, args.canny_low, args.canny_high)
        results[f"{root.name} ({kind})"] = counts.summary()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "alignment.json").write_text(json.dumps({"tolerance": args.tolerance, "sets": results}, indent=2))
    header, rows = tables(results, args.tolerance)
    (args.out / "alignment.md").write_text(markdown_table(header, rows))
    write_csv(args.out / "alignment.csv", header, rows)
    plot(results, args.out / "alignment.png")
    print(markdown_table(header, [r for r in rows if r[1].startswith(("ring", "interior"))]))
    return results


if __name__ == "__main__":
    main()
