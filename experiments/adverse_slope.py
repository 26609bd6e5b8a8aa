"""H5 of experiments/synthdrive_adverse.md: does FLEX-Seg's gain grow with the loss of boundary evidence?

Pre-declared (experiments/synthdrive_adverse.md, before any run): for every seed s, the
gain on each of the nine target domains, g_{s,d} = mIoU(FLEX-Seg, s, d) − mIoU(flex=off, s, d)
(percent points, from ``flexseg.report``'s ``runs.csv``), is regressed on the domain's
loss of boundary evidence L_d (``loss`` column of
experiments/results/boundary_evidence/table.csv: the share of label boundaries with a
Canny edge within 2 px in ``clear`` minus that share in domain d, percent points; fixed
before the runs, L_clear = 0). The per-seed OLS slope b_s is expressed in mIoU points per
10 points of evidence loss; H5's interval is the 95 % Student t interval of the mean of the
b_s over the seeds that have both arms (``flexseg.stats.paired``: a one-sample interval of
per-seed values, sign-flip p). Support: the interval lies above 0; contradiction: below 0;
else inconclusive. Reported, not decided: Spearman's ρ between the domains' mean gains and
L_d (9 domains) and the per-seed slopes.

    python experiments/adverse_slope.py --runs experiments/results/synthdrive10_adverse/runs.csv
    bash experiments/synthdrive.sh report_adverse     # runs it after flexseg.report
"""
from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flexseg.report.tables import fmt_delta_ci, fmt_p
from flexseg.stats import paired

ROOT = Path(__file__).resolve().parent
EVIDENCE = ROOT / "results" / "boundary_evidence" / "table.csv"
DOMAINS = ("clear", "fog", "night", "rain", "snow", "fog_dense", "night_dark", "rain_lens", "snow_storm")
PER = 10.0  # slope unit: mIoU points per PER points of evidence loss


def read_loss(path: Path) -> dict[str, float]:
    """domain → loss of boundary evidence (points) from boundary_evidence's table.csv."""
    with open(path, newline="") as f:
        return {r["domain"]: float(r["loss"]) for r in csv.DictReader(f)}


def read_gains(path: Path, flex: str, off: str, domains: Sequence[str]) -> dict[int, dict[str, float]]:
    """seed → domain → FLEX-Seg − flex=off (points), seeds with both arms and every domain."""
    arms: dict[str, dict[int, dict[str, str]]] = {flex: {}, off: {}}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["group"] in arms:
                arms[r["group"]][int(r["seed"])] = r
    for name, runs in arms.items():
        if not runs:
            raise SystemExit(f"adverse_slope: no runs of group {name!r} in {path}")
    gains = {}
    for s in sorted(set(arms[flex]) & set(arms[off])):
        a, b = arms[flex][s], arms[off][s]
        if all(a.get(d) not in (None, "") and b.get(d) not in (None, "") for d in domains):
            gains[s] = {d: float(a[d]) - float(b[d]) for d in domains}
    return gains


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """OLS slope of y on x.

    Example:
        >>> slope(np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0]))
        2.0
    """
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc ** 2).sum())


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties).

    Example:
        >>> round(spearman([1, 2, 3, 4], [10, 20, 40, 30]), 6)
        0.8
    """
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def analyse(gains: dict[int, dict[str, float]], loss: dict[str, float], domains: Sequence[str],
            levels: Sequence[float] = (0.95,)) -> dict:
    """Per-seed slopes, their paired comparison at each level (the first decides), mean
    gain per domain and Spearman's ρ."""
    x = np.array([loss[d] for d in domains])
    per_seed = {s: PER * slope(x, np.array([g[d] for d in domains])) for s, g in gains.items()}
    comps = {lv: paired(list(per_seed.values()), level=lv) for lv in levels}
    comp = comps[levels[0]]
    mean_gain = {d: float(np.mean([g[d] for g in gains.values()])) for d in domains}
    return {"per_seed": per_seed, "comparison": comp, "levels": comps, "mean_gain": mean_gain,
            "rho": spearman([loss[d] for d in domains], [mean_gain[d] for d in domains]), "loss": dict(loss)}


def verdict(low: float, high: float) -> str:
    """The declared rule (docs/statistics.md style).

    Example:
        >>> verdict(0.1, 2.0), verdict(-3.0, -0.5), verdict(-1.0, 1.0)
        ('supported', 'contradicted', 'inconclusive')
    """
    if low > 0:
        return "supported"
    if high < 0:
        return "contradicted"
    return "inconclusive"


def write(out: Path, res: dict, domains: Sequence[str], source: Path) -> str:
    from flexseg.utils.tables import markdown_table

    out.mkdir(parents=True, exist_ok=True)
    c = res["comparison"]
    with open(out / "slope.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seed", f"slope (mIoU points per {PER:g} points of evidence loss)"])
        for s, b in res["per_seed"].items():
            w.writerow([s, b])
    text = (f"# H5: FLEX-Seg's gain vs the loss of boundary evidence\n\n"
            f"From `{source}` and `{EVIDENCE.relative_to(ROOT.parent)}` (`python experiments/adverse_slope.py`; "
            f"method: the script's docstring, declared in experiments/synthdrive_adverse.md). Per seed, the OLS slope "
            f"of the gain (FLEX-Seg − flex=off, mIoU points) over the {len(domains)} target domains on their loss of "
            f"boundary evidence, in points per {PER:g} points of loss; 95 % t interval over seeds.\n\n"
            + markdown_table(["level", "n seeds", "mean slope [CI]", "p (sign-flip)", "rule"],
                             [[f"{100 * lv:g} %", k.n_pairs, fmt_delta_ci(k.delta, k.low, k.high), fmt_p(k.p_value),
                               verdict(k.low, k.high)] for lv, k in res["levels"].items()])
            + f"\nH5 (decided at {100 * next(iter(res['levels'])):g} %): **{verdict(c.low, c.high)}**.\n"
            + "\nPer domain (mean gain over the seeds; loss of boundary evidence from the table):\n\n"
            + markdown_table(["domain", "loss (points)", "mean gain (points)"],
                             [[d, f"{res['loss'][d]:.2f}", f"{res['mean_gain'][d]:+.2f}"] for d in domains])
            + f"\nSpearman ρ (domains' mean gain vs loss, {len(domains)} domains; reported, not decided): "
            f"{res['rho']:+.2f}\n\nPer-seed slopes: "
            + ", ".join(f"{s}: {b:+.3f}" for s, b in res["per_seed"].items()) + "\n")
    (out / "slope.md").write_text(text)
    plot(out / "slope.png", res, domains)
    return text


def plot(path: Path, res: dict, domains: Sequence[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array([res["loss"][d] for d in domains])
    y = np.array([res["mean_gain"][d] for d in domains])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x, y, color=["tab:red" if "_" in d else "tab:blue" for d in domains])
    for d, xi, yi in zip(domains, x, y):
        ax.annotate(d, (xi, yi), fontsize=8, xytext=(3, 3), textcoords="offset points")
    b = res["comparison"].delta / PER
    ax.plot([x.min(), x.max()], [y.mean() + b * (x.min() - x.mean()), y.mean() + b * (x.max() - x.mean())],
            color="grey", linestyle="--", label=f"mean per-seed slope {res['comparison'].delta:+.2f} / {PER:g} points")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("loss of boundary evidence vs clear (points of 'within 2 px')")
    ax.set_ylabel("FLEX-Seg − flex=off, mIoU (points)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, required=True, help="runs.csv of flexseg.report (--group-by folder)")
    ap.add_argument("--evidence", type=Path, default=EVIDENCE)
    ap.add_argument("--flex", default="flex", help="group of the FLEX-Seg runs")
    ap.add_argument("--off", default="off", help="group of the flex=off runs")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.95, 0.975],
                    help="interval levels; the first decides (0.975: Bonferroni over the two confirmatory hypotheses)")
    ap.add_argument("--out", type=Path, default=None, help="default: the folder of --runs")
    args = ap.parse_args(argv)
    loss = read_loss(args.evidence)
    missing = [d for d in DOMAINS if d not in loss]
    if missing:
        raise SystemExit(f"adverse_slope: {args.evidence} lacks {missing}")
    gains = read_gains(args.runs, args.flex, args.off, DOMAINS)
    if len(gains) < 2:
        raise SystemExit(f"adverse_slope: {len(gains)} seed(s) with both arms and all nine domains in {args.runs}")
    res = analyse(gains, loss, DOMAINS, tuple(args.levels))
    print(write(args.out or args.runs.parent, res, DOMAINS, args.runs))
    return res


if __name__ == "__main__":
    main()
