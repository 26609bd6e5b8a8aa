"""Evaluate a checkpoint on every target domain: ``python -m flexseg.eval ckpt_path=PATH``.

Prints the per-domain table and writes ``results.json`` (and ``results.md`` /
``results.csv``) in the run directory. ``ckpt_path`` may be a FlexSeg Lightning
checkpoint or a published mmseg DAFormer / HRDA / DGInStyle checkpoint.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from flexseg.build import build_datamodule, build_loggers, build_module, build_trainer
from flexseg.module import SegModule
from flexseg.train import results_summary
from flexseg.utils.ckpt_config import apply_checkpoint_config
from flexseg.utils.conf_dir import CONFIG_PATH
from flexseg.utils.config import check_output_dir
from flexseg.utils.console import print_results
from flexseg.utils.extras import apply_extras
from flexseg.utils.tables import markdown_table, write_csv
from flexseg.utils.wandb_run import assign_run_ids, finish_runs, write_summary

log = logging.getLogger(__name__)


def load_network_weights(net: torch.nn.Module, path: str | Path) -> str:
    """Load a FlexSeg Lightning checkpoint (``net.*`` keys) or an mmseg checkpoint into
    ``net``; returns the detected kind. Raises with the mismatched keys listed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        from flexseg.models.weights import load_any_checkpoint
    except ImportError:  # pragma: no cover - weights module absent
        load_any_checkpoint = None
    if load_any_checkpoint is not None:
        return load_any_checkpoint(net, path)
    state = torch.load(path, map_location="cpu", weights_only=False)
    sd = {k[len("net."):]: v for k, v in state["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(sd, strict=True)
    return "lightning"


def build_module_from_checkpoint(cfg: DictConfig) -> SegModule:
    """SegModule of the model config with the network weights of ``cfg.ckpt_path``
    (FlexSeg or mmseg checkpoint). ``model.pretrained`` is not read: the checkpoint
    overwrites every weight, so no ImageNet encoder file is needed."""
    if cfg.model.get("pretrained"):
        with open_dict(cfg):
            cfg.model.pretrained = None
    module = build_module(cfg)
    kind = load_network_weights(module.net, cfg.ckpt_path)
    log.info("loaded %s checkpoint %s", kind, cfg.ckpt_path)
    return module


def write_tables(results: dict[str, dict[str, Any]], out_dir: Path) -> dict[str, float]:
    """results.md (paper-style summary + per-domain + per-class tables) and results.csv;
    returns the summary averages (Avg2/Avg3/Avg5 for the real targets, else mean/adverse)."""
    from flexseg.report import averages, canonical_domain

    classes = list(next(iter(results.values()))["iou"]) if results else []
    write_csv(out_dir / "results.csv", ["domain", "miou", "acc", "boundary_acc", "interior_acc", *classes],
              ([d, r["miou"], r["acc"], r["boundary_acc"], r["interior_acc"], *(r["iou"][c] for c in classes)]
               for d, r in results.items()))
    fmt = lambda v: "—" if v is None or math.isnan(v) else f"{100 * v:.2f}"  # noqa: E731
    avgs = averages({d: r["miou"] for d, r in results.items()})
    names = [canonical_domain(d) for d in results]
    summary = markdown_table(names + list(avgs), [[fmt(r["miou"]) for r in results.values()] + [fmt(v) for v in avgs.values()]])
    per_domain = markdown_table(["domain", "mIoU", "acc", "boundary acc", "interior acc"],
                                ([d, *(fmt(r[k]) for k in ("miou", "acc", "boundary_acc", "interior_acc"))]
                                 for d, r in results.items()))
    per_class = markdown_table(["class", *names], ([c, *(fmt(r["iou"][c]) for r in results.values())] for c in classes))
    (out_dir / "results.md").write_text(
        f"## mIoU (%)\n\n{summary}\n## Per domain (%)\n\n{per_domain}\n## Per-class IoU (%)\n\n{per_class}")
    return avgs


def eval_tf32(cfg: DictConfig) -> bool:
    """``tf32`` of the evaluation: the command's value, else that of the checkpoint's
    training run (a paper recipe trained and tested in plain fp32), else True."""
    if cfg.get("tf32") is not None:
        return bool(cfg.tf32)
    from flexseg.utils.ckpt_config import read_checkpoint_config

    stored = read_checkpoint_config(cfg.ckpt_path) if cfg.get("ckpt_path") else None
    return bool((stored or {}).get("resolved", {}).get("tf32", True))


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test ``cfg.ckpt_path`` on every target domain; writes the tables and, with a
    logger (``logger=wandb``, ``logger=csv``), logs the metrics there too (W&B: a new
    run whose summary holds every per-domain metric and Avg2/Avg3/Avg5)."""
    from flexseg.utils.precision import set_tf32

    output_dir = check_output_dir(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    set_tf32(eval_tf32(cfg))
    assign_run_ids(cfg, output_dir, resuming=False)
    datamodule = build_datamodule(cfg)
    module = build_module_from_checkpoint(cfg)
    loggers = build_loggers(cfg)
    trainer = build_trainer(cfg, loggers=loggers)
    try:
        for logger in trainer.loggers:
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        trainer.test(module, datamodule=datamodule, verbose=False)
        summary = results_summary(module.results)
        if trainer.is_global_zero:
            summary["averages"] = write_tables(module.results, output_dir)
            write_summary(trainer.loggers, module.results)
            (output_dir / "results.json").write_text(json.dumps(summary, indent=2))
            print_results(module.results, title=f"eval {cfg.ckpt_path}: per-domain results (%)",
                          averages=summary["averages"])
    except BaseException:
        finish_runs(loggers, exit_code=1)
        raise
    finish_runs(loggers)
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="eval")
def main(cfg: DictConfig) -> None:
    apply_checkpoint_config(cfg)  # the network (and data) it was trained with
    apply_extras(cfg)
    evaluate(cfg)


if __name__ == "__main__":
    from flexseg.cli import run

    run(main)
