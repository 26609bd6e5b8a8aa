"""Evaluate a checkpoint on every target domain: ``python -m flexseg.eval ckpt_path=PATH``.

Prints the per-domain table and writes ``results.json`` (and ``results.md`` /
``results.csv``) in the run directory. ``ckpt_path`` may be a FlexSeg Lightning
checkpoint or a published mmseg DAFormer / HRDA / DGInStyle checkpoint.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from flexseg.build import build_datamodule, build_loggers, build_trainer
from flexseg.checkpoint import build_module_from_checkpoint, load_network_weights
from flexseg.report.results import results_summary, write_tables
from flexseg.utils.ckpt_config import apply_checkpoint_config
from flexseg.utils.conf_dir import CONFIG_PATH
from flexseg.utils.config import check_output_dir
from flexseg.utils.console import print_results
from flexseg.utils.extras import apply_extras
from flexseg.utils.wandb_run import assign_run_ids, finish_runs, write_summary

#: Names defined here before they moved to library modules (``from flexseg.eval import …`` keeps working).
__all__ = ["build_module_from_checkpoint", "eval_tf32", "evaluate", "load_network_weights", "main", "results_summary",
           "write_tables"]

log = logging.getLogger(__name__)


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
    from flexseg.utils.entry import run

    run(main)
