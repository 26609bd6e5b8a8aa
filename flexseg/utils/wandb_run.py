"""W&B run lifecycle for a FlexSeg run: one W&B run per training run (also per job of a
Hydra multirun), the same W&B run continued on ``resume=true``, summary metrics.

* :func:`assign_run_ids` — before the loggers are built: each ``WandbLogger`` entry of
  ``cfg.logger`` gets a run id, new or (when resuming) the one stored in
  ``<run dir>/wandb_run.json``, with ``resume="allow"``; the ids are written back there.
* :func:`write_summary` — per-domain metrics and the averages (Avg2/Avg3/Avg5 for the
  paper's targets, else mean/adverse) into the W&B run summary.
* :func:`finish_runs` — ``finish()`` every started W&B run (once), so the next job of a
  multirun in the same process starts its own run. Independent of ``callbacks=wandb``.

See README.md, section "Weights & Biases".
"""
from __future__ import annotations

import json
import logging
import secrets
import string
from pathlib import Path
from typing import Any, Iterable, Mapping

from omegaconf import DictConfig, open_dict

from flexseg.protocol import averages

log = logging.getLogger(__name__)

#: File of the run directory mapping logger name → W&B run id.
RUN_ID_FILE = "wandb_run.json"
WANDB_LOGGER = "WandbLogger"


def wandb_entries(cfg: DictConfig) -> list[str]:
    """Names of the ``cfg.logger`` entries whose ``_target_`` is a Lightning ``WandbLogger``."""
    entries = cfg.get("logger") or {}
    return [name for name, lg in entries.items()
            if lg is not None and str(lg.get("_target_", "")).rsplit(".", 1)[-1] == WANDB_LOGGER]


def read_run_ids(output_dir: str | Path) -> dict[str, str]:
    """The stored ``{logger name: run id}`` of a run directory (empty when none)."""
    path = Path(output_dir) / RUN_ID_FILE
    if not path.is_file():
        return {}
    try:
        ids = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it to start new W&B runs") from err
    if not isinstance(ids, dict):
        raise ValueError(f"{path} must hold a {{logger name: run id}} object")
    return {str(k): str(v) for k, v in ids.items()}


def assign_run_ids(cfg: DictConfig, output_dir: str | Path, resuming: bool) -> dict[str, str]:
    """Set ``id`` (and ``resume="allow"`` when continuing) on every W&B logger entry.

    ``resuming``: the run continues from a checkpoint, so the stored id of this run
    directory (if any) is reused and W&B appends to that run. Otherwise a new id is drawn
    (an explicit ``logger.<name>.id`` always wins). Returns the ids written to
    ``<output_dir>/wandb_run.json``; nothing is written without a W&B logger.
    """
    names = wandb_entries(cfg)
    if not names:
        return {}
    stored = read_run_ids(output_dir) if resuming else {}
    ids: dict[str, str] = {}
    with open_dict(cfg):
        for name in names:
            entry = cfg.logger[name]
            run_id = entry.get("id") or stored.get(name)
            if run_id and (resuming or entry.get("id")):
                entry.resume = entry.get("resume") or "allow"
                log.info("W&B logger %s continues run %s", name, run_id)
            else:
                run_id = generate_id()
            entry.id = ids[name] = str(run_id)
    path = Path(output_dir) / RUN_ID_FILE
    path.write_text(json.dumps({**read_run_ids(output_dir), **ids}, indent=2))
    return ids


def generate_id(length: int = 8) -> str:
    """A random W&B run id (lower-case letters and digits, as ``wandb`` draws them)."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _wandb_loggers(loggers: Iterable[Any]) -> list[Any]:
    return [lg for lg in loggers if type(lg).__name__ == WANDB_LOGGER]


def summary_metrics(results: Mapping[str, Mapping[str, Any]], prefix: str = "test") -> dict[str, float]:
    """Flat summary: ``<prefix>/<domain>/{miou,acc,boundary_acc,interior_acc}``,
    ``<prefix>/<domain>/iou/<class>`` and ``<prefix>/<Avg2|Avg3|Avg5|mean|adverse>``
    (fractions 0–1, as logged during the test)."""
    out: dict[str, float] = {}
    for domain, r in results.items():
        for key in ("miou", "acc", "boundary_acc", "interior_acc"):
            if key in r:
                out[f"{prefix}/{domain}/{key}"] = float(r[key])
        for cls, value in (r.get("iou") or {}).items():
            out[f"{prefix}/{domain}/iou/{cls}"] = float(value)
    for name, value in averages({d: r["miou"] for d, r in results.items()}).items():
        out[f"{prefix}/{name}"] = float(value)
    return out


def write_summary(loggers: Iterable[Any], results: Mapping[str, Mapping[str, Any]], prefix: str = "test") -> dict[str, float]:
    """Put :func:`summary_metrics` into the summary of every attached W&B run (started
    and not finished); returns the metrics."""
    metrics = summary_metrics(results, prefix)
    for lg in _wandb_loggers(loggers):
        run = getattr(lg, "_experiment", None)
        if run is not None and not getattr(run, "_is_finished", False):
            run.summary.update(metrics)
    return metrics


def finish_runs(loggers: Iterable[Any], exit_code: int | None = None) -> int:
    """``finish()`` every started, unfinished W&B run of ``loggers``; returns how many."""
    done = 0
    for lg in _wandb_loggers(loggers):
        run = getattr(lg, "_experiment", None)
        if run is not None and hasattr(run, "finish") and not getattr(run, "_is_finished", False):
            run.finish(exit_code=exit_code)
            done += 1
    return done
