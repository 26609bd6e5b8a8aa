"""LightningModule: forward, L = L_seg (UBE or CE) + λ·L_GAP, HAS feedback, evaluation.

The network follows the contract of :mod:`flexseg.models` (dict with ``logits``,
``features``, optional ``features_box``, ``logits_weight`` and ``aux``); the loss is a
:class:`~flexseg.flex.criterion.FlexCriterion`. Evaluation reports per target domain
the dataset mIoU and the pixel accuracy on boundary vs interior pixels.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from flexseg.data.labels import CLASS_NAMES, IGNORE_INDEX
from flexseg.metrics import SegmentationMetrics
from flexseg.optim import build_optimizer, param_groups, poly_warmup_factor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Box = Sequence[int] | None


def crop(labels: torch.Tensor, box: Box) -> torch.Tensor:
    """labels[..., y0:y1, x0:x1] for box = (y0, x0, y1, x1); the whole map for None."""
    if box is None:
        return labels
    y0, x0, y1, x1 = (int(v) for v in box)
    return labels[..., y0:y1, x0:x1]


def resize_logits(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of [B,C,h,w] logits to ``size`` (no-op when equal)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


class SegModule(L.LightningModule):
    """Training and evaluation of a segmentation network with the FLEX-Seg objective.

    Args:
        net: segmentation network (see :mod:`flexseg.models`).
        criterion: training loss (``FlexCriterion``); its parameters (GAP projection
            head) train with the head learning rate, its buffers (prototype bank) are
            saved in checkpoints.
        lr, head_lr_mult, weight_decay, betas: AdamW (DESIGN §2: 6e-5, ×10, 0.01).
        warmup_steps, warmup_ratio, power, min_lr_ratio: poly schedule with linear warm-up.
        boundary_kernel_sizes: kernels of the bands; the thickest band is the
            "boundary" of the boundary-vs-interior accuracy.
        channels_last: run the network in channels-last memory format (GPU speed-up).
        skip_nonfinite: on a non-finite loss skip the batch (counted in
            ``train/skipped_nonfinite``) instead of stopping with an error.
    """

    def __init__(
        self,
        net: nn.Module,
        criterion: nn.Module,
        lr: float = 6e-5,
        head_lr_mult: float = 10.0,
        weight_decay: float = 0.01,
        betas: Sequence[float] = (0.9, 0.999),
        warmup_steps: int = 1500,
        warmup_ratio: float = 1e-6,
        power: float = 1.0,
        min_lr_ratio: float = 0.0,
        boundary_kernel_sizes: Sequence[int] = (3, 5, 7),
        num_classes: int = 19,
        ignore_index: int = IGNORE_INDEX,
        channels_last: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "criterion"])
        self.net = net
        self.criterion = criterion
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.boundary_kernel_sizes = tuple(boundary_kernel_sizes)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255, persistent=False)
        self.eval_metrics = nn.ModuleDict()
        self.domains: list[str] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.skipped_nonfinite = 0
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    # ------------------------------------------------------------------ forward
    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (or 0–255 float) [B,3,H,W] → ImageNet-normalized float."""
        x = (images.float() - self.pixel_mean) / self.pixel_std
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits [B,C,H,W] at the input resolution (inference path)."""
        return self.net.inference(self.normalize(images))

    # ----------------------------------------------------------------- training
    def compute_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Forward + FLEX-Seg loss for one training batch."""
        labels = batch["label"]
        out = self.net(self.normalize(batch["image"]))
        box = out.get("features_box")
        losses = self.criterion(
            resize_logits(out["logits"], labels.shape[-2:]),
            out["features"],
            labels,
            feature_labels=crop(labels, box) if box is not None else None,
        )
        weight = float(out.get("logits_weight", 1.0))
        total = weight * losses["loss"]
        per_image = weight * losses["per_image"]
        for k, aux in enumerate(out.get("aux", []) or []):
            aux_labels = crop(labels, aux.get("box"))
            aux_losses = self.criterion.segmentation_loss(resize_logits(aux["logits"], aux_labels.shape[-2:]), aux_labels)
            total = total + aux["weight"] * aux_losses["loss"]
            per_image = per_image + aux["weight"] * aux_losses["per_image"]
            losses[f"loss_aux{k}"] = aux_losses["loss"]
        losses["loss"] = total
        losses["per_image"] = per_image
        return losses

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        losses = self.compute_losses(batch)
        loss = losses["loss"]
        distributed = self._trainer is not None and self.trainer.world_size > 1
        finite = torch.isfinite(loss.detach())
        if distributed:  # every rank must take the same decision, or DDP waits forever
            finite = self.trainer.strategy.reduce(finite.float(), reduce_op="min") > 0
        if not finite:
            paths = list(batch.get("path", []))
            if self.hparams.skip_nonfinite:
                self.skipped_nonfinite += 1
                self.log("train/skipped_nonfinite", float(self.skipped_nonfinite), batch_size=batch["image"].shape[0])
                return None  # Lightning skips the optimizer step
            raise FloatingPointError(
                f"non-finite training loss ({loss.item()}) at step {self.global_step}, batch {batch_idx}; "
                f"images: {paths}. Lower the learning rate, check the inputs, or use trainer.precision=32."
            )
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "record_losses"):
            dm.record_losses(batch["index"], losses["per_image"])
        bs = batch["image"].shape[0]
        # DDP: each rank's loss is rescaled to the global-batch mean; their average is it
        self.log("train/loss", loss, prog_bar=True, batch_size=bs, sync_dist=distributed)
        for key, value in losses.items():
            if key not in ("loss", "per_image") and torch.is_tensor(value) and value.numel() == 1:
                self.log(f"train/{key}", value.detach().float(), batch_size=bs, sync_dist=distributed)
        self._log_diagnostics(dm, bs)
        return loss

    def _log_diagnostics(self, dm: Any, bs: int) -> None:
        bank = getattr(self.criterion, "bank", None)
        if bank is not None and getattr(self.criterion, "gap_enabled", False):
            counts = bank.counts.float().flatten()
            self.log_dict(
                {"flex/proto_count_min": counts.min(), "flex/proto_count_median": counts.median(),
                 "flex/proto_count_max": counts.max()},
                batch_size=bs,
            )
        sampler = getattr(dm, "_sampler", None) if dm is not None else None
        if sampler is not None and hasattr(sampler, "threshold"):
            self.log("flex/has_threshold", float(sampler.threshold()), batch_size=bs)
            if hasattr(sampler, "hard_fraction"):
                self.log("flex/has_hard_fraction", float(sampler.hard_fraction), batch_size=bs)

    # --------------------------------------------------------------- evaluation
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is not None and hasattr(dm, "domains"):
            self.set_domains(dm.domains)

    def set_domains(self, domains: Sequence[str]) -> None:
        """Create one metric accumulator per evaluation domain."""
        self.domains = list(domains)
        self.eval_metrics = nn.ModuleDict(
            {self._key(d): SegmentationMetrics(self.num_classes, self.ignore_index) for d in self.domains}
        ).to(self.device)

    @staticmethod
    def _key(domain: str) -> str:
        # prefixed: ModuleDict keys may not shadow its methods (e.g. "clear")
        return "domain_" + domain.replace("/", "__").replace(".", "_")

    def evaluate_batch(self, batch: dict, domain: str) -> None:
        """Predict at the label resolution and accumulate the domain's metrics."""
        from flexseg.flex.boundaries import boundary_bands

        labels = batch["label"]
        logits = resize_logits(self(batch["image"]), labels.shape[-2:])
        preds = logits.argmax(1)
        boundary = boundary_bands(labels, self.boundary_kernel_sizes, self.ignore_index)[:, -1]
        self.eval_metrics[self._key(domain)].update(preds, labels, boundary)

    def _eval_step(self, batch: dict, dataloader_idx: int) -> None:
        self.evaluate_batch(batch, self.domains[dataloader_idx])

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(batch, dataloader_idx)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(batch, dataloader_idx)

    def _finish_eval(self, stage: str) -> None:
        results: dict[str, dict[str, Any]] = {}
        for domain in self.domains:
            metric = self.eval_metrics[self._key(domain)]
            if not metric.update_called:
                continue
            r = metric.compute()
            metric.reset()
            results[domain] = {
                "miou": float(r["miou"]),
                "acc": float(r["acc"]),
                "boundary_acc": float(r["boundary_acc"]),
                "interior_acc": float(r["interior_acc"]),
                "iou": {name: float(v) for name, v in zip(CLASS_NAMES, r["iou"].tolist())},
            }
            for key in ("miou", "acc", "boundary_acc", "interior_acc"):
                value = results[domain][key]
                if not math.isnan(value):
                    self.log(f"{stage}/{domain}/{key}", value, add_dataloader_idx=False, sync_dist=False)
        if results:
            mious = [r["miou"] for r in results.values()]
            self.log(f"{stage}/mean_miou", sum(mious) / len(mious), add_dataloader_idx=False)
        self.results = results

    def on_validation_epoch_end(self) -> None:
        self._finish_eval("val")

    def on_test_epoch_end(self) -> None:
        self._finish_eval("test")

    # ------------------------------------------------------------ checkpointing
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the global RNG states (dropout draws) so a resumed run is exact."""
        checkpoint["flexseg_rng"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["flexseg_rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = checkpoint.get("flexseg_rng")
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and torch.cuda.is_available():
                try:
                    torch.cuda.set_rng_state_all(rng["cuda"])
                except (RuntimeError, IndexError):  # different number of GPUs: not exact, but fine
                    pass

    # ---------------------------------------------------------------- optimizer
    def configure_optimizers(self):
        hp = self.hparams
        head_names = {id(p) for p in self.net.head_parameters()}
        encoder = [(n, p) for n, p in self.net.named_parameters() if id(p) not in head_names]
        head = [(n, p) for n, p in self.net.named_parameters() if id(p) in head_names]
        head += [(f"criterion.{n}", p) for n, p in self.criterion.named_parameters()]
        groups = param_groups(encoder, head, hp.lr, hp.head_lr_mult, hp.weight_decay)
        optimizer = build_optimizer(groups, hp.lr, hp.betas)
        max_steps = self.trainer.max_steps
        if max_steps is None or max_steps <= 0:
            raise ValueError("trainer.max_steps must be set (> 0): the poly schedule needs the run length")

        def factor(step: int) -> float:
            return poly_warmup_factor(step, max_steps, hp.warmup_steps, hp.power, hp.warmup_ratio, hp.min_lr_ratio)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
