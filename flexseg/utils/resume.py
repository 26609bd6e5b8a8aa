"""Which checkpoint a training run starts from: ``ckpt_path=``, ``resume=true``, or a
requeued SLURM job continuing its own run directory — never step 0 over a checkpoint.

Candidates in the run directory are ``checkpoints/last.ckpt`` (FlexSeg's
``ModelCheckpoint``) and ``hpc_ckpt_<n>.ckpt`` (written by Lightning's SLURM requeue
signal handler, ``SLURMEnvironment(auto_requeue=True)``); the one with the highest
``global_step`` wins. See README.md, "Clusters (SLURM): preemption and requeue".
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from omegaconf import DictConfig

from flexseg.utils.config import ConfigError

log = logging.getLogger(__name__)


def slurm_restart_count() -> int:
    """``SLURM_RESTART_COUNT`` (set by SLURM in a requeued job; 0 otherwise)."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    except ValueError:
        return 0


def checkpoint_step(path: str | Path) -> int:
    """``global_step`` stored in a Lightning checkpoint (memory-mapped, cheap); -1 if absent."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ConfigError(f"cannot read checkpoint {path}: {err}") from err
    return int(state.get("global_step", -1)) if isinstance(state, dict) else -1


def run_dir_checkpoints(output_dir: str | Path) -> list[Path]:
    """``checkpoints/last.ckpt`` and Lightning's ``hpc_ckpt_*.ckpt`` of a run directory."""
    out = Path(output_dir)
    found = [out / "checkpoints" / "last.ckpt", *sorted(out.glob("hpc_ckpt_*.ckpt"))]
    return [p for p in found if p.is_file()]


def newest_checkpoint(output_dir: str | Path) -> tuple[Path, int] | None:
    """The run directory's checkpoint with the highest ``global_step`` (ties: ``last.ckpt``)."""
    best: tuple[Path, int] | None = None
    for path in run_dir_checkpoints(output_dir):
        step = checkpoint_step(path)
        if best is None or step > best[1]:
            best = (path, step)
    return best


def resume_checkpoint(cfg: DictConfig, output_dir: str | Path) -> str | None:
    """The checkpoint ``trainer.fit`` starts from (``None``: from scratch).

    * ``ckpt_path=PATH``: that file; refused when the run directory already holds a
      checkpoint of a later step (training would overwrite it with an older state).
    * ``resume=true``, or a requeued SLURM job (``SLURM_RESTART_COUNT`` > 0): the newest
      checkpoint of the run directory, if any.
    * otherwise, for training, the run directory must hold no checkpoint (a new run would
      restart from step 0 over it): a :class:`ConfigError` says how to continue instead.
    """
    if not cfg.get("train", True):
        return _explicit(cfg)
    newest = newest_checkpoint(output_dir)
    if cfg.get("ckpt_path"):
        path = _explicit(cfg)
        step = checkpoint_step(path)
        if newest is not None and newest[1] > step and Path(path).resolve() != newest[0].resolve():
            raise ConfigError(
                f"ckpt_path={path} (step {step}) is older than {newest[0]} (step {newest[1]}) in the run "
                f"directory, which training would overwrite: resume=true (without ckpt_path) continues the "
                f"newer one, or choose another hydra.run.dir")
        return path
    requeued = slurm_restart_count() > 0
    if cfg.get("resume") or requeued:
        if newest is not None:
            why = "resume=true" if cfg.get("resume") else f"SLURM requeue #{slurm_restart_count()}"
            log.info("%s: continuing from %s (step %d)", why, newest[0], newest[1])
            return str(newest[0])
        log.info("resume: no checkpoint in %s yet: starting a new run", output_dir)
        return None
    if newest is not None:
        raise ConfigError(
            f"{output_dir} already holds {newest[0].name} (step {newest[1]}): a new run would restart from "
            f"step 0 over it. resume=true continues it; or choose another hydra.run.dir")
    return None


def _explicit(cfg: DictConfig) -> str | None:
    if not cfg.get("ckpt_path"):
        return None
    path = Path(str(cfg.ckpt_path))
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={path} does not exist")
    return str(path)


def keep_csv_metrics(cfg: DictConfig, output_dir: str | Path, step: int) -> Path | None:
    """Before a resumed run: move each CSV logger's ``metrics.csv`` of this run directory
    to ``metrics.until_step<step>.csv`` beside it (Lightning's ``CSVLogger`` deletes an
    existing ``metrics.csv`` when it starts). Returns the last moved file, if any."""
    moved = None
    for lg in (cfg.get("logger") or {}).values():
        if lg is None or str(lg.get("_target_", "")).rsplit(".", 1)[-1] != "CSVLogger":
            continue
        folder = Path(str(lg.get("save_dir", output_dir))) / str(lg.get("name", "lightning_logs") or "")
        version = lg.get("version")
        if version not in (None, ""):
            folder = folder / (version if isinstance(version, str) else f"version_{version}")
        metrics = folder / "metrics.csv"
        if metrics.is_file():
            target = folder / f"metrics.until_step{step}.csv"
            k = 1
            while target.exists():
                target, k = folder / f"metrics.until_step{step}.{k}.csv", k + 1
            metrics.rename(target)
            log.info("resume: kept the earlier CSV metrics as %s", target)
            moved = target
    return moved
