"""How much visual evidence of the label boundaries each synthdrive target domain leaves (issue 30).

For every target domain, old (``clear``, ``fog``, ``night``, ``rain``, ``snow``) and new
(``fog_dense``, ``night_dark``, ``rain_lens``, ``snow_storm``), on the evaluation images of
the embedded default (seed 1000, indices 0–99, 128×256: the test set of every training run),
with ``flexseg.analysis.alignment`` (Canny edges of the grey image, kornia, σ 1, thresholds
0.1/0.2; an exact distance transform; ring 0 = the label boundary band of kernel 3):

- ``within 2 px``: the share of ring-0 pixels (label boundaries) with an image edge within
  2 px — the measure the issue asks for (pooled over the images' pixels, as
  ``python -m flexseg.analysis.alignment`` pools them);
- ``ring-0 distance``: their mean distance to the nearest edge, px (capped at the image
  diagonal when an image has no edge);
- ``chance``: the same share for interior pixels (outside every boundary band, i.e. more
  than 3 px from a label boundary): what an image with that edge density gives anywhere; ``excess`` = within − chance;
- the same three on the *contrast-normalized* image (grey 1st–99th percentile stretched to
  0–255 before Canny): Canny's thresholds are absolute, so dimming alone (night) already
  lowers the raw share; the normalized share drops only where edges are blurred, buried in
  noise, covered or moved — evidence removed, not only dimmed.

``loss`` = within 2 px of ``clear`` − within 2 px of the domain (percent points; the
x-axis of H5 in experiments/synthdrive_adverse.md).

Declared acceptance rule for a new domain D replacing the classic domain O (written
before the first measurement of the final defaults; iterations in
experiments/results/boundary_evidence/iterations.md): for both references R ∈ {clear, O},

1. raw within 2 px of D ≤ that of R − 10 points, and the 95 % Welch interval of the
   per-image difference D − R lies below 0;
2. raw ring-0 distance of D > that of R;
3. contrast-normalized within 2 px: the 95 % Welch interval of D − R lies below 0.

    python experiments/boundary_evidence.py                 # → experiments/results/boundary_evidence/
    bash experiments/synthdrive.sh boundary_evidence        # the same
"""
from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flexseg.analysis.alignment import AlignmentCounts, canny_edges, edge_distance, ring_map
from flexseg.data.synthdrive import SynthDrive
from flexseg.stats import welch

OLD = ("clear", "fog", "night", "rain", "snow")
NEW = ("fog_dense", "night_dark", "rain_lens", "snow_storm")
#: new domain → the classic domain it replaces
REPLACES = {"fog_dense": "fog", "night_dark": "night", "rain_lens": "rain", "snow_storm": "snow"}
OUT = Path(__file__).resolve().parent / "results" / "boundary_evidence"
MIN_DROP = 10.0  # points (rule 1)


def normalize_contrast(image: np.ndarray) -> np.ndarray:
    """uint8 [H,W,3]: one affine map for all channels taking the grey 1st/99th percentiles to 0/255.

    Example:
        >>> img = np.zeros((4, 4, 3), np.uint8); img[:, 2:] = 20
        >>> normalize_contrast(img)[0, :, 0].tolist()
        [0, 0, 255, 255]
    """
    grey = image.astype(np.float64).mean(axis=2)
    lo, hi = np.percentile(grey, [1, 99])
    return np.clip((image.astype(np.float64) - lo) * 255.0 / max(hi - lo, 1.0), 0, 255).astype(np.uint8)


def measure(domain: str, num: int, seed: int, height: int, width: int, tolerance: float) -> dict:
    """Pooled summaries (raw, normalized) and per-image ring-0 shares of one domain."""
    ds = SynthDrive(domain, num, height, width, seed=seed, cache=False)
    pooled = {"raw": AlignmentCounts(3), "norm": AlignmentCounts(3)}
    per_image: dict[str, list[float]] = {"raw": [], "norm": [], "raw_dist": []}
    for i in range(num):
        s = ds[i]
        image = s["image"].permute(1, 2, 0).numpy()
        label = s["label"].numpy()
        rings = ring_map(label)
        thin = rings == 0
        for key, img in (("raw", image), ("norm", normalize_contrast(image))):
            dist = edge_distance(canny_edges(img))
            pooled[key].add(dist, label, rings, tolerance)
            d = np.minimum(dist[thin], float(np.hypot(height, width)))
            per_image[key].append(100.0 * float((d <= tolerance).mean()) if d.size else float("nan"))
            if key == "raw":
                per_image["raw_dist"].append(float(d.mean()) if d.size else float("nan"))
    return {"summary": {k: v.summary() for k, v in pooled.items()}, "per_image": per_image}


def row(domain: str, res: dict, clear_within: float) -> dict:
    out: dict = {"domain": domain, "kind": "new" if domain in NEW else "classic",
                 "replaces": REPLACES.get(domain, "")}
    for key, tag in (("raw", ""), ("norm", "norm_")):
        s = res["summary"][key]
        w0 = 100.0 * s["per_ring"]["within_tolerance"][0]
        chance = 100.0 * s["interior"]["within_tolerance"]
        out[f"{tag}within2"] = w0
        out[f"{tag}ring0_distance"] = s["per_ring"]["mean_distance"][0]
        out[f"{tag}chance"] = chance
        out[f"{tag}excess"] = w0 - chance
        out[f"{tag}edge_density"] = 100.0 * s["edge_density"]
    out["loss"] = clear_within - out["within2"]
    out["images"] = res["summary"]["raw"]["images"]
    return out


def verdicts(results: dict[str, dict], rows: dict[str, dict]) -> list[dict]:
    """Per new domain and reference: the three declared criteria."""
    out = []
    for d in NEW:
        if d not in results:
            continue
        for ref in ("clear", REPLACES[d]):
            if ref not in results:
                continue
            a, b = results[d]["per_image"], results[ref]["per_image"]
            dr, lr, hr, _ = welch(a["raw"], b["raw"])
            dn, ln, hn, _ = welch(a["norm"], b["norm"])
            c1 = rows[d]["within2"] <= rows[ref]["within2"] - MIN_DROP and hr < 0
            c2 = rows[d]["ring0_distance"] > rows[ref]["ring0_distance"]
            c3 = hn < 0
            out.append({"domain": d, "reference": ref, "d_within2": dr, "d_low": lr, "d_high": hr,
                        "d_norm_within2": dn, "d_norm_low": ln, "d_norm_high": hn,
                        "d_distance": rows[d]["ring0_distance"] - rows[ref]["ring0_distance"],
                        "rule1": c1, "rule2": c2, "rule3": c3, "pass": c1 and c2 and c3})
    return out


COLUMNS = [("domain", "domain"), ("kind", "kind"), ("replaces", "replaces"), ("within2", "within 2 px (%)"),
           ("ring0_distance", "ring-0 distance (px)"), ("chance", "chance (%)"), ("excess", "excess (points)"),
           ("norm_within2", "normalized: within 2 px (%)"), ("norm_ring0_distance", "normalized: ring-0 distance (px)"),
           ("norm_excess", "normalized: excess (points)"), ("edge_density", "edge pixels (%)"),
           ("loss", "loss vs clear (points)")]


def fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def write(out: Path, rows: list[dict], checks: list[dict], args: argparse.Namespace) -> None:
    from flexseg.utils.tables import markdown_table

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "table.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([k for k, _ in COLUMNS] + ["images"])
        for r in rows:
            w.writerow([r[k] for k, _ in COLUMNS] + [r["images"]])
    with open(out / "verdicts.csv", "w", newline="") as f:
        if checks:
            w = csv.DictWriter(f, fieldnames=list(checks[0]))
            w.writeheader()
            w.writerows(checks)
    table = markdown_table([h for _, h in COLUMNS], [[fmt(r[k]) for k, _ in COLUMNS] for r in rows])
    ci = lambda d, lo, hi: f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]"  # noqa: E731
    vt = markdown_table(
        ["new domain", "vs", "Δ within 2 px [95 % CI]", "Δ ring-0 distance (px)", "Δ normalized within 2 px [95 % CI]",
         "rule 1", "rule 2", "rule 3", "removes boundary evidence"],
        [[c["domain"], c["reference"], ci(c["d_within2"], c["d_low"], c["d_high"]), f"{c['d_distance']:+.2f}",
          ci(c["d_norm_within2"], c["d_norm_low"], c["d_norm_high"]), *("yes" if c[k] else "no" for k in
                                                                         ("rule1", "rule2", "rule3", "pass"))]
         for c in checks])
    (out / "table.md").write_text(
        f"# Boundary evidence per synthdrive target domain\n\n"
        f"`python experiments/boundary_evidence.py --num {args.num} --seed {args.seed} --height {args.height} "
        f"--width {args.width}` (the evaluation images of the embedded default). Canny edges (kornia, σ 1, "
        f"thresholds 0.1/0.2) vs label boundaries (ring 0, kernel 3), tolerance {args.tolerance:g} px, pooled over "
        f"pixels; chance = the same share for interior pixels; normalized = the grey 1st–99th percentile stretched "
        f"to 0–255 before Canny; loss = within 2 px of clear − that of the domain. Method and rule: the script's "
        f"docstring.\n\n{table}\n## Acceptance of the new domains (declared rule)\n\nΔ = new − reference, per-image "
        f"shares, 95 % Welch interval ({args.num} images each; the domains' scenes are drawn independently). Rule 1: "
        f"within 2 px at least {MIN_DROP:g} points lower and the interval below 0; rule 2: a larger ring-0 "
        f"distance; rule 3: the normalized interval below 0.\n\n{vt}")
    plot(out / "plot.png", rows)


def plot(path: Path, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["domain"] for r in rows]
    colors = ["tab:blue" if r["kind"] == "classic" else "tab:red" for r in rows]
    x = np.arange(len(rows))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = [("within2", "chance", "label boundaries with an edge within 2 px (%)"),
              ("ring0_distance", None, "mean ring-0 distance to an edge (px)"),
              ("norm_within2", "norm_chance", "normalized contrast: within 2 px (%)")]
    for ax, (key, chance, title) in zip(axes, panels):
        ax.bar(x, [r[key] for r in rows], color=colors)
        if chance:
            ax.scatter(x, [r[chance] for r in rows], color="black", marker="_", s=200, label="chance (interior)")
            ax.legend(loc="lower left", fontsize=8)
        ax.set_xticks(x, names, rotation=45, ha="right")
        ax.set_title(title, fontsize=10)
    fig.suptitle("synthdrive targets: classic (blue) vs physically modelled (red)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--num", type=int, default=100, help="images per domain (indices 0..num-1)")
    ap.add_argument("--seed", type=int, default=1000, help="dataset seed (1000 = the test set of every run)")
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--tolerance", type=float, default=2.0)
    ap.add_argument("--domains", nargs="+", default=[*OLD, *NEW])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    results = {d: measure(d, args.num, args.seed, args.height, args.width, args.tolerance) for d in args.domains}
    clear = 100.0 * results["clear"]["summary"]["raw"]["per_ring"]["within_tolerance"][0] if "clear" in results \
        else float("nan")
    rows = [row(d, results[d], clear) for d in args.domains]
    checks = verdicts(results, {r["domain"]: r for r in rows})
    write(args.out, rows, checks, args)
    print((args.out / "table.md").read_text())
    return rows


if __name__ == "__main__":
    main()
