"""Train (and test) a segmenter: ``python -m flexseg.train [overrides]``.

With no arguments: FLEX-Seg on DAFormer/MiT-B0 on the embedded synthdrive benchmark
(CPU, a few minutes), then the per-domain mIoU table. The run directory receives
``checkpoints/last.ckpt``, the CSV logs and ``results.json``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from flexseg.build import build_callbacks, build_datamodule, build_loggers, build_module, build_trainer
from flexseg.checks import validate_config
from flexseg.report.results import results_summary, write_tables
from flexseg.utils.ckpt_config import StoreConfig
from flexseg.utils.conf_dir import CONFIG_PATH
from flexseg.utils.config import check_output_dir
from flexseg.utils.console import print_results
from flexseg.utils.extras import apply_extras
from flexseg.utils.precision import set_tf32
from flexseg.utils.resume import checkpoint_step, keep_csv_metrics, resume_checkpoint
from flexseg.utils.run_lock import run_dir_lock
from flexseg.utils.wandb_run import assign_run_ids, finish_runs, write_summary

#: ``results_summary`` lives in flexseg.report.results now (``from flexseg.train import results_summary`` keeps working).
__all__ = ["main", "metric_value", "results_summary", "train", "validate_heldout"]

log = logging.getLogger(__name__)


def validate_heldout(trainer: L.Trainer, module: Any, datamodule: Any) -> dict[str, Any]:
    """Evaluate the held-out source split (``data.val_fraction`` / ``data.val_files``) in full;
    returns its :func:`results_summary` (``{}`` without a held-out split)."""
    if not getattr(datamodule, "heldout", None):
        return {}
    if not trainer.limit_val_batches:  # the configs switch in-training validation off (0)
        trainer.limit_val_batches = 1.0
    trainer.validate(module, datamodule=datamodule, verbose=False)
    return results_summary(module.val_results)


def metric_value(summary: dict[str, Any], name: str) -> float:
    """The value at ``name`` = a ``/``-separated path into the train summary (``val/mean``:
    held-out source mIoU; ``mean``: mean target mIoU). Raises naming the keys there are."""
    node: Any = summary
    for part in name.split("/"):
        if not isinstance(node, dict) or part not in node:
            have = sorted(node) if isinstance(node, dict) else []
            hint = " (val/... needs data.val_fraction > 0 or data.val_files)" if name.startswith("val") else ""
            raise KeyError(f"optimized_metric={name!r}: no {part!r} in the run's results (have: {have}){hint}")
        node = node[part]
    if not isinstance(node, (int, float)):
        raise KeyError(f"optimized_metric={name!r} is not a number but {type(node).__name__}")
    return float(node)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test, write ``results.json``; returns the results summary."""
    validate_config(cfg)
    output_dir = check_output_dir(cfg.paths.output_dir)
    with run_dir_lock(output_dir):  # one process per run directory (flexseg/utils/run_lock.py)
        return _train(cfg, output_dir)


def _train(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    L.seed_everything(cfg.seed, workers=True)
    set_tf32(bool(cfg.get("tf32", True)))

    ckpt_path = resume_checkpoint(cfg, output_dir)  # before the W&B id: resuming continues that run
    assign_run_ids(cfg, output_dir, resuming=ckpt_path is not None)
    if ckpt_path is not None and cfg.get("train", True):
        keep_csv_metrics(cfg, output_dir, checkpoint_step(ckpt_path))  # CSVLogger would delete them
    datamodule = build_datamodule(cfg)
    module = build_module(cfg)
    callbacks = [*build_callbacks(cfg), StoreConfig(cfg)]  # checkpoints carry the config
    loggers = build_loggers(cfg)
    trainer = build_trainer(cfg, callbacks, loggers)
    try:
        summary = _fit_and_test(cfg, trainer, module, datamodule, ckpt_path, output_dir)
    except BaseException:
        finish_runs(loggers, exit_code=1)
        raise
    finish_runs(loggers)  # every run (every multirun job) is its own W&B run
    return summary


def _fit_and_test(cfg: DictConfig, trainer: L.Trainer, module, datamodule, ckpt_path: str | None,
                  output_dir: Path) -> dict[str, Any]:
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    if cfg.get("train", True):
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        if trainer.interrupted:
            log.warning("training was interrupted; last.ckpt holds the state to resume from")
            return {}
        ckpt_path = None
    val = validate_heldout(trainer, module, datamodule) if cfg.get("train", True) else {}
    if not cfg.get("test", True):
        return {"val": val} if val else {}
    trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
    summary = results_summary(module.results)
    if val:  # held-out source split (data.val_fraction): what a hyper-parameter search may optimize
        summary["val"] = val
    if trainer.is_global_zero:
        summary["averages"] = write_tables(module.results, output_dir)  # results.md / .csv; Avg2/Avg3/Avg5 or mean
        write_summary(trainer.loggers, module.results)  # per-domain metrics and Avg2/3/5 (or mean)
        (output_dir / "results.json").write_text(json.dumps(summary, indent=2))
        print_results(module.results, title=f"{cfg.task_name}: per-domain results (%) — {output_dir}",
                      averages=summary["averages"])
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
def main(cfg: DictConfig) -> float | None:
    apply_extras(cfg)
    summary = train(cfg)
    # multirun sweepers (e.g. Optuna, conf/hparams_search/) optimize the returned value:
    # optimized_metric (val/mean = held-out source mIoU), else the mean target mIoU
    if cfg.get("optimized_metric"):
        return metric_value(summary, str(cfg.optimized_metric))
    return summary.get("mean") if summary else None


if __name__ == "__main__":
    from flexseg.utils.entry import run

    run(main)
