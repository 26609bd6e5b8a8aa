"""Boundary vs interior error analysis of a checkpoint: ``python -m flexseg.analyze ckpt_path=PATH``.

For every target domain of the data config, predicts each test image and counts errors
per region of the label map (:mod:`flexseg.analysis.errors`): the thin / medium / thick
boundary rings and the interior. Writes, in the run directory:

- ``analysis.json`` — per domain: error rate (fraction) per ring, ``boundary``,
  ``interior``, ``boundary_to_interior``, pixel share of each region, raw counts, mIoU;
- ``analysis.md`` / ``analysis.csv`` — the same as tables (percent);
- ``error_rates.png`` — grouped bars, error rate per region for each domain (the
  paper's motivating figure);
- ``examples.png`` — for the first ``examples`` images of each domain: image, ground
  truth, prediction, and the error map coloured by region.

Same config as ``flexseg.eval`` (``data=…``, ``model=…``, ``+experiment=…``); the
checkpoint may be a FlexSeg Lightning checkpoint or a published mmseg one.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import hydra
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from flexseg.analysis.errors import error_rates, pixel_shares, region_error_counts, ring_names
from flexseg.build import build_datamodule
from flexseg.checkpoint import build_module_from_checkpoint
from flexseg.metrics import SegmentationMetrics
from flexseg.module import resize_logits
from flexseg.utils.ckpt_config import apply_checkpoint_config
from flexseg.utils.conf_dir import CONFIG_PATH
from flexseg.utils.config import check_output_dir
from flexseg.utils.extras import apply_extras
from flexseg.utils.tables import markdown_table, write_csv

log = logging.getLogger(__name__)

#: Colours of the error map: correct pixels grey, errors by region (thin → interior).
REGION_COLOURS = np.array([[230, 25, 75], [245, 130, 48], [255, 225, 25], [0, 130, 200]], dtype=np.uint8)


def pick_device(accelerator: str | None) -> torch.device:
    """``cuda`` when the trainer config asks for a GPU (or ``auto``) and one exists, else CPU."""
    if str(accelerator) in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def error_map(preds: np.ndarray, labels: np.ndarray, gran: np.ndarray, num_rings: int) -> np.ndarray:
    """[H,W,3] uint8: grey where correct, black where ignored, errors coloured by region."""
    out = np.full((*labels.shape, 3), 200, dtype=np.uint8)
    out[labels == 255] = 0
    wrong = (preds != labels) & (labels != 255)
    region = np.where(gran >= 0, gran, num_rings)
    colours = np.concatenate([REGION_COLOURS[: num_rings], REGION_COLOURS[-1:]])
    out[wrong] = colours[np.minimum(region[wrong], len(colours) - 1)]
    return out


@torch.no_grad()
def analyze_domains(
    module: torch.nn.Module,
    loaders: Sequence[torch.utils.data.DataLoader],
    domains: Sequence[str],
    kernel_sizes: Sequence[int],
    device: torch.device,
    num_examples: int = 4,
    ignore_index: int = 255,
    max_batches: int | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, np.ndarray]]]]:
    """Per-domain error statistics and example arrays (image, label, pred, error map)."""
    from flexseg.flex.boundaries import granularity_map

    module.eval().to(device)
    names = ring_names(len(kernel_sizes))
    results: dict[str, dict[str, Any]] = {}
    examples: dict[str, list[dict[str, np.ndarray]]] = {}
    with Progress(transient=True) as progress:
        for domain, loader in zip(domains, loaders):
            total = len(loader) if max_batches is None else min(len(loader), max_batches)
            task = progress.add_task(f"analyze {domain}", total=total)
            counts = torch.zeros(len(kernel_sizes) + 1, 2, dtype=torch.long)
            metric = SegmentationMetrics(getattr(module, "num_classes", 19), ignore_index).to(device)
            examples[domain] = []
            for b, batch in enumerate(loader):
                if max_batches is not None and b >= max_batches:
                    break
                images, labels = batch["image"].to(device), batch["label"].to(device)
                preds = resize_logits(module(images), labels.shape[-2:]).argmax(1)
                counts += region_error_counts(preds, labels, kernel_sizes, ignore_index).cpu()
                metric.update(preds, labels)
                for i in range(min(images.shape[0], num_examples - len(examples[domain]))):
                    gran = granularity_map(labels[i : i + 1], kernel_sizes, ignore_index)[0]
                    p, y = preds[i].cpu().numpy(), labels[i].cpu().numpy()
                    examples[domain].append({
                        "image": images[i].permute(1, 2, 0).cpu().numpy().astype(np.uint8),
                        "label": y, "pred": p, "errors": error_map(p, y, gran.cpu().numpy(), len(kernel_sizes)),
                    })
                progress.advance(task)
            rates = error_rates(counts, names)
            results[domain] = {
                "error_rate": rates,
                "pixel_share": dict(pixel_shares(counts, names)),
                "counts": {name: counts[g].tolist() for g, name in enumerate([*names, "interior"])},
                "miou": float(metric.compute()["miou"]),
            }
    return results, examples


def results_rows(results: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (percent) of the per-domain error table."""
    first = next(iter(results.values()))
    regions = [k for k in first["error_rate"] if k not in ("boundary", "interior", "boundary_to_interior")]
    header = ["domain", "mIoU", *(f"err {r}" for r in regions), "err interior", "err boundary", "boundary / interior",
              *(f"share {r}" for r in regions)]

    def pct(v: float) -> str:
        return "—" if v is None or math.isnan(v) else f"{100 * v:.2f}"

    rows = []
    for domain, r in results.items():
        e = r["error_rate"]
        ratio = e["boundary_to_interior"]
        rows.append([domain, pct(r["miou"]), *(pct(e[k]) for k in regions), pct(e["interior"]), pct(e["boundary"]),
                     "—" if math.isnan(ratio) else f"{ratio:.1f}×", *(pct(r["pixel_share"][k]) for k in regions)])
    return header, rows


def write_outputs(results: Mapping[str, Mapping[str, Any]], examples: Mapping[str, list], out: Path,
                  kernel_sizes: Sequence[int], title: str, colors: Sequence[Sequence[int]] | None = None) -> None:
    """analysis.json / .md / .csv, error_rates.png and examples.png in ``out`` (``colors``:
    one RGB per class for the label/prediction panels, default Cityscapes)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "analysis.json").write_text(json.dumps({"kernel_sizes": list(kernel_sizes), "domains": results}, indent=2))
    header, rows = results_rows(results)
    write_csv(out / "analysis.csv", header, rows)
    (out / "analysis.md").write_text(
        f"# {title}\n\nError rate (%) per region; rings of kernels {list(kernel_sizes)} (label pixels); "
        "share = fraction of labelled pixels in the region.\n\n" + markdown_table(header, rows))
    plot_error_rates(results, out / "error_rates.png", title)
    if any(examples.values()):
        plot_examples(examples, out / "examples.png", len(kernel_sizes), colors)


def plot_error_rates(results: Mapping[str, Mapping[str, Any]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = list(results)
    regions = [k for k in next(iter(results.values()))["error_rate"] if k not in ("boundary", "boundary_to_interior")]
    x = np.arange(len(domains))
    width = 0.8 / len(regions)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(domains)), 4.0))
    for i, region in enumerate(regions):
        values = [100 * results[d]["error_rate"][region] for d in domains]
        colour = REGION_COLOURS[min(i, len(REGION_COLOURS) - 1)] / 255 if region != "interior" else REGION_COLOURS[-1] / 255
        ax.bar(x + (i - (len(regions) - 1) / 2) * width, values, width, label=region, color=colour)
    ax.set_xticks(x, domains)
    ax.set_ylabel("pixel error rate (%)")
    ax.set_title(title, fontsize="small")
    ax.legend(title="region", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_examples(examples: Mapping[str, list[dict[str, np.ndarray]]], path: Path, num_rings: int,
                  colors: Sequence[Sequence[int]] | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from flexseg.data.labels import PALETTE, colorize

    colors = PALETTE if colors is None else colors
    rows = [(d, ex) for d, exs in examples.items() for ex in exs]
    cols = ("image", "ground truth", "prediction", "errors by region")
    fig, axes = plt.subplots(len(rows), 4, figsize=(12, 1.6 * len(rows) + 0.6), squeeze=False)
    for r, (domain, ex) in enumerate(rows):
        panels = (ex["image"], colorize(ex["label"], colors), colorize(ex["pred"], colors), ex["errors"])
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(panel)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize="small")
            if c == 0:
                ax.set_ylabel(domain, fontsize="small")
    names = ring_names(num_rings) + ["interior"]
    colours = np.concatenate([REGION_COLOURS[:num_rings], REGION_COLOURS[-1:]])
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[i] / 255) for i in range(len(names))]
    fig.legend(handles, [f"error: {n}" for n in names], loc="lower center", ncol=len(names), fontsize="small")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def print_table(results: Mapping[str, Mapping[str, Any]], title: str) -> None:
    """The error columns of :func:`results_rows` (pixel shares are in analysis.md)."""
    header, rows = results_rows(results)
    keep = [i for i, col in enumerate(header) if not col.startswith("share")]
    table = Table(title=title)
    for i in keep:
        table.add_column(header[i].replace("err ", "err\n").replace("boundary / ", "boundary /\n"),
                         justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    Console(width=max(100, Console().width)).print(table)


def analyze(cfg: DictConfig) -> dict[str, Any]:
    """Run the analysis described in the module docstring; returns the per-domain results."""
    output_dir = check_output_dir(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg)
    datamodule.setup("test")
    module = build_module_from_checkpoint(cfg)
    kernel_sizes = tuple(cfg.flex.kernel_sizes)
    results, examples = analyze_domains(
        module, datamodule.test_dataloader(), datamodule.domains, kernel_sizes,
        pick_device(cfg.trainer.get("accelerator")), int(cfg.examples), max_batches=cfg.get("max_batches"),
    )
    title = f"Pixel error rate (%) by region — {Path(str(cfg.ckpt_path)).name}"
    from flexseg.build import class_set

    write_outputs(results, examples, Path(output_dir), kernel_sizes, title, class_set(cfg).colors)
    print_table(results, title)
    log.info("analysis written to %s", output_dir)
    return results


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="analyze")
def main(cfg: DictConfig) -> None:
    apply_checkpoint_config(cfg)  # the network (and data) it was trained with
    apply_extras(cfg)
    analyze(cfg)


if __name__ == "__main__":
    from flexseg.utils.entry import run

    run(main)
