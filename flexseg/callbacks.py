"""Weights & Biases callbacks: image panels of what FLEX-Seg sees, and run lifecycle.

Both do nothing unless a Lightning ``WandbLogger`` is attached, so configs that log to
CSV only can keep them (``conf/callbacks/wandb.yaml``).

* :class:`WandbImagePanels` — every ``every_n_steps`` training steps, and on the first
  test batch of each target domain, logs for the first ``max_images`` images: the image
  with ground truth and prediction as W&B segmentation masks, the boundary bands
  (thin/medium/thick) as a mask, the predictive entropy and the UBE weight map.
* :class:`WandbFinish` — finishes the W&B run when the run's last stage ends (test, or
  fit when ``after_test=False``; the test metrics and averages go to the summary first)
  or on an exception; in a multirun it appends the job number to the run name.
  ``flexseg.train`` / ``flexseg.eval`` finish their runs themselves as well
  (:mod:`flexseg.utils.wandb_run`), so multirun jobs are separate W&B runs without it.

:class:`~flexseg.data.feedback.SamplerFeedback` (the batch sampler's loss feedback, which
:func:`flexseg.build.build_trainer` always adds) is re-exported here.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from flexseg.data.feedback import SamplerFeedback  # noqa: F401  (re-exported)
from flexseg.data.labels import CLASS_NAMES, IGNORE_INDEX

log = logging.getLogger(__name__)

#: Class id the masks use for ignored pixels (255 in the labels).
IGNORE_MASK_ID: int = len(CLASS_NAMES)
MASK_LABELS: dict[int, str] = {**dict(enumerate(CLASS_NAMES)), IGNORE_MASK_ID: "ignore"}  # Cityscapes
BAND_LABELS: dict[int, str] = {0: "interior", 1: "thin", 2: "medium", 3: "thick"}


def wandb_loggers(trainer: L.Trainer) -> list[Any]:
    """The trainer's ``WandbLogger`` instances (empty without one)."""
    from lightning.pytorch.loggers import WandbLogger

    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


def heatmap(values: np.ndarray, vmin: float, vmax: float, cmap: str = "viridis") -> np.ndarray:
    """[H,W] float → [H,W,3] uint8 through a matplotlib colormap on [vmin, vmax]."""
    from matplotlib import colormaps

    scaled = np.clip((values - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0)
    return (colormaps[cmap](scaled)[..., :3] * 255).astype(np.uint8)


def mask_ids(labels: np.ndarray, ignore_id: int = IGNORE_MASK_ID) -> np.ndarray:
    """Train ids [H,W] with 255 → ``ignore_id`` (= the class count; uint8, for W&B masks)."""
    out = np.asarray(labels).astype(np.int64)
    out[(out < 0) | (out >= ignore_id)] = ignore_id
    return out.astype(np.uint8)


def mask_labels(class_names: Sequence[str] = CLASS_NAMES) -> dict[int, str]:
    """W&B ``class_labels`` of :func:`mask_ids` masks: train id → name, C → ``ignore``."""
    return {**dict(enumerate(class_names)), len(class_names): "ignore"}


def band_ids(bands: torch.Tensor) -> torch.Tensor:
    """Nested bands [B,G,H,W] bool → [B,H,W] int: 0 interior, g+1 = thinnest band holding the pixel."""
    G = bands.shape[1]
    ids = torch.zeros(bands.shape[0], *bands.shape[2:], dtype=torch.long, device=bands.device)
    for g in reversed(range(G)):  # thin wins
        ids[bands[:, g]] = g + 1
    return ids


@torch.no_grad()
def panel_arrays(
    module: L.LightningModule,
    images: torch.Tensor,
    labels: torch.Tensor,
    kernel_sizes: Sequence[int] = (3, 5, 7),
    alpha: float = 3.0,
    eps: float = 1e-6,
    ignore_index: int = IGNORE_INDEX,
) -> dict[str, np.ndarray]:
    """Everything one panel shows, at label resolution, as numpy arrays.

    ``images`` uint8 [B,3,H,W] (0–255), ``labels`` int64 [B,h,w]. Runs the module's
    inference path (``module(images)``: normalization + ``net.inference``) in eval mode
    and restores the training mode. Returns ``image`` [B,h,w,3] uint8, ``label`` and
    ``pred`` [B,h,w] uint8 mask ids (255 → C, the class count), ``bands`` [B,h,w] (0 interior, 1 thin,
    2 medium, 3 thick), ``entropy`` [B,h,w] (nats) and ``ube_weight`` [B,h,w]
    (1 + α·sigmoid(z) on boundary pixels, 1 inside, 0 ignored).
    """
    from flexseg.flex.boundaries import boundary_bands
    from flexseg.flex.ube import pixel_entropy, ube_pixel_weights

    was_training = module.training
    module.eval()
    try:
        logits = module(images)
    finally:
        module.train(was_training)
    size = labels.shape[-2:]
    logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
    bands = boundary_bands(labels, tuple(kernel_sizes), ignore_index)
    weights = ube_pixel_weights(logits, labels, bands[:, -1], alpha, eps, ignore_index)
    img = images.float()
    if tuple(img.shape[-2:]) != tuple(size):
        img = F.interpolate(img, size=size, mode="bilinear", align_corners=False)
    return {
        "image": img.clamp(0, 255).round().byte().permute(0, 2, 3, 1).cpu().numpy(),
        "label": mask_ids(labels.cpu().numpy(), logits.shape[1]),
        "pred": mask_ids(logits.argmax(1).cpu().numpy(), logits.shape[1]),
        "bands": band_ids(bands).cpu().numpy().astype(np.uint8),
        "entropy": pixel_entropy(logits).cpu().numpy(),
        "ube_weight": weights.cpu().numpy(),
    }


def _shrink(a: np.ndarray, max_side: int) -> np.ndarray:
    """Subsample [H,W] or [H,W,3] by an integer stride so the longer side is ≤ ``max_side``
    (striding keeps mask ids exact)."""
    step = max(1, math.ceil(max(a.shape[:2]) / max_side))
    return a if step == 1 else a[::step, ::step]


class WandbImagePanels(L.Callback):
    """Log image / ground truth / prediction / boundary bands / entropy / UBE weight panels.

    Args:
        every_n_steps: training-step interval (``trainer.global_step``); ≤ 0 disables
            the training panels.
        max_images: images of the batch shown per panel.
        on_test: also log the first batch of every test domain (``test_panels/<domain>``).
        kernel_sizes, alpha, eps: boundary kernels and UBE parameters used for the
            panels; ``None`` takes them from the module's ``boundary_kernel_sizes`` and
            its criterion's ``ube_cfg`` (else 3.0 / 1e-6).
        max_side: longest side in pixels of the logged images (downscaled by striding).
    """

    def __init__(
        self,
        every_n_steps: int = 500,
        max_images: int = 2,
        on_test: bool = True,
        kernel_sizes: Sequence[int] | None = None,
        alpha: float | None = None,
        eps: float | None = None,
        max_side: int = 1024,
    ) -> None:
        super().__init__()
        if max_images < 1:
            raise ValueError(f"max_images must be ≥ 1, got {max_images}")
        self.every_n_steps, self.max_images, self.on_test = int(every_n_steps), int(max_images), on_test
        self.kernel_sizes, self.alpha, self.eps, self.max_side = kernel_sizes, alpha, eps, int(max_side)
        self._last_step = -1

    def _params(self, module: L.LightningModule) -> tuple[tuple[int, ...], float, float]:
        ks = self.kernel_sizes or getattr(module, "boundary_kernel_sizes", (3, 5, 7))
        ube = dict(getattr(getattr(module, "criterion", None), "ube_cfg", None) or {})
        alpha = self.alpha if self.alpha is not None else float(ube.get("alpha", 3.0))
        eps = self.eps if self.eps is not None else float(ube.get("eps", 1e-6))
        return tuple(int(k) for k in ks), alpha, eps

    def panels(self, module: L.LightningModule, batch: dict, prefix: str) -> dict[str, list[Any]]:
        """W&B media for the first images of ``batch``, keyed ``<prefix>/<panel>``."""
        import wandb

        n = min(self.max_images, batch["image"].shape[0])
        ks, alpha, eps = self._params(module)
        arr = panel_arrays(module, batch["image"][:n], batch["label"][:n], ks, alpha, eps, module.ignore_index)
        paths = list(batch.get("path", []))
        names = tuple(getattr(module, "class_names", CLASS_NAMES))  # the dataset's classes
        class_labels, max_entropy = mask_labels(names), math.log(len(names))
        out: dict[str, list[Any]] = {f"{prefix}/{k}": [] for k in ("segmentation", "boundary_bands", "entropy", "ube_weight")}
        for i in range(n):
            caption = str(paths[i]) if i < len(paths) else f"image {i}"
            image = _shrink(arr["image"][i], self.max_side)
            masks = {
                "ground_truth": {"mask_data": _shrink(arr["label"][i], self.max_side), "class_labels": class_labels},
                "prediction": {"mask_data": _shrink(arr["pred"][i], self.max_side), "class_labels": class_labels},
            }
            out[f"{prefix}/segmentation"].append(wandb.Image(image, masks=masks, caption=caption))
            bands = {"bands": {"mask_data": _shrink(arr["bands"][i], self.max_side), "class_labels": BAND_LABELS}}
            out[f"{prefix}/boundary_bands"].append(wandb.Image(image, masks=bands, caption=f"{caption} k={list(ks)}"))
            ent = heatmap(_shrink(arr["entropy"][i], self.max_side), 0.0, max_entropy)
            out[f"{prefix}/entropy"].append(wandb.Image(ent, caption=f"{caption} entropy 0–ln({len(names)}) nats"))
            ube = heatmap(_shrink(arr["ube_weight"][i], self.max_side), 0.0, 1.0 + alpha, "magma")
            out[f"{prefix}/ube_weight"].append(wandb.Image(ube, caption=f"{caption} UBE weight 0–{1 + alpha:g}"))
        return out

    def _log(self, trainer: L.Trainer, module: L.LightningModule, batch: dict, prefix: str) -> None:
        loggers = wandb_loggers(trainer)
        if not loggers or not trainer.is_global_zero:
            return
        try:
            media = self.panels(module, batch, prefix)
        except Exception as err:  # panels must never stop a training run
            log.warning("W&B panels for %s skipped: %s", prefix, err)
            return
        for lg in loggers:
            lg.experiment.log({**media, "trainer/global_step": trainer.global_step})

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if self.every_n_steps <= 0 or step % self.every_n_steps or step == self._last_step:
            return
        self._last_step = step  # once per optimizer step (gradient accumulation)
        self._log(trainer, pl_module, batch, "train_panels")

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        if not self.on_test or batch_idx != 0:
            return
        domains = getattr(pl_module, "domains", [])
        domain = domains[dataloader_idx] if dataloader_idx < len(domains) else str(dataloader_idx)
        self._log(trainer, pl_module, batch, f"test_panels/{domain}")


class WandbFinish(L.Callback):
    """Finish the W&B run at the end of the run's last stage, so that the next job of a
    Hydra multirun (same process) starts a new W&B run instead of reusing this one.

    Args:
        after_test: the run ends with ``trainer.test`` (train.yaml ``test: true``):
            finish at the end of the test stage; otherwise at the end of fit.
        job_suffix: in a Hydra multirun, rename the run ``<name>-<job number>``.
    """

    def __init__(self, after_test: bool = True, job_suffix: bool = True) -> None:
        super().__init__()
        self.after_test, self.job_suffix = after_test, job_suffix
        self._finished: set[int] = set()

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not self.job_suffix or not trainer.is_global_zero:
            return
        num = _hydra_job_num()
        if num is None:
            return
        for lg in wandb_loggers(trainer):
            run = lg.experiment
            suffix = f"-{num}"
            if run.name and not str(run.name).endswith(suffix):
                run.name = f"{run.name}{suffix}"

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "test" and trainer.is_global_zero and getattr(pl_module, "results", None):
            from flexseg.utils.wandb_run import write_summary

            write_summary(trainer.loggers, pl_module.results)  # before the run closes
        if stage == "test" or (stage == "fit" and not self.after_test) or trainer.interrupted:
            self.finish(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.finish(trainer, exit_code=1)

    def finish(self, trainer: L.Trainer, exit_code: int | None = None) -> None:
        """``finish()`` every attached W&B run that was started (once each)."""
        for lg in wandb_loggers(trainer):
            run = getattr(lg, "_experiment", None)
            if run is not None and hasattr(run, "finish") and id(run) not in self._finished:
                self._finished.add(id(run))
                run.finish(exit_code=exit_code)


def _hydra_job_num() -> int | None:
    """The Hydra multirun job number, ``None`` outside a multirun."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized():
            return None
        hc = HydraConfig.get()
        if hc.mode != RunMode.MULTIRUN:
            return None
        return int(hc.job.num)
    except Exception:  # noqa: BLE001 - outside Hydra, or fields missing
        return None
