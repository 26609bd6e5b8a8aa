"""LightningModule: forward, L = L_seg (UBE or CE) + λ·L_GAP (+ the reference recipes'
feature distance and SHADE consistency, docs/recipe.md), HAS feedback, evaluation.

The network follows the contract of :mod:`flexseg.models` (dict with ``logits``,
``features``, optional ``features_box``, ``logits_weight`` and ``aux``); the loss is a
:class:`~flexseg.flex.criterion.FlexCriterion`. Evaluation reports per target domain
the dataset mIoU and the pixel accuracy on boundary vs interior pixels.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from flexseg.data.labels import CLASS_NAMES, IGNORE_INDEX
from flexseg.metrics import SegmentationMetrics
from flexseg.models.feature_distance import feature_distance_loss
from flexseg.models.shade import base_styles, style_consistency_loss, style_statistics
from flexseg.models.weights import BACKBONE_RECORD, compact_state_dict, restore_excluded_weights

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


class _StyleImages(torch.utils.data.Dataset):
    """Images [3,H,W] of one training set in a given order, augmented with seed base + i."""

    def __init__(self, part: Any, order: list[int], base: int) -> None:
        self.part, self.order, self.base = part, order, base

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, j: int) -> torch.Tensor:
        i = self.order[j]
        if hasattr(self.part, "offset"):  # TransformedDataset: seeded training transform
            return self.part.__getitem__(i, self.base + i)["image"]
        return self.part[i]["image"]


class SegModule(L.LightningModule):
    """Training and evaluation of a segmentation network with the FLEX-Seg objective.

    Args:
        net: segmentation network (see :mod:`flexseg.models`).
        criterion: training loss (``FlexCriterion``); its parameters (GAP projection
            head) train with the head learning rate, its buffers (prototype bank) are
            saved in checkpoints.
        optimizer: partial of the optimizer (``optim.optimizer``: AdamW with ``lr``,
            ``weight_decay``, …; docs/design.md §2), called with the parameter groups.
        param_groups: the group rule (``optim.param_groups``,
            :class:`flexseg.optim.ParamGroups`), called with the encoder's and the head's
            named parameters and the optimizer's ``lr`` and ``weight_decay``.
        scheduler: partial of the per-step lr scheduler (``optim.scheduler``,
            :func:`flexseg.optim.poly_warmup_scheduler`), called with the optimizer and
            ``trainer.max_steps``.
        boundary_kernel_sizes: kernels of the bands (``flex.kernel_sizes``); the thickest
            band is the "boundary" of the boundary-vs-interior accuracy.
        num_classes: classes of the network's logits.
        class_names: names of the classes (None: Cityscapes for 19, else numbered).
        channels_last: run the network in channels-last memory format (GPU speed-up).
        skip_nonfinite: on a non-finite loss skip the batch (counted in
            ``train/skipped_nonfinite``) instead of stopping with an error.
    """

    def __init__(
        self,
        net: nn.Module,
        criterion: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        param_groups: Callable[..., list[dict]],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler],
        boundary_kernel_sizes: Sequence[int],
        num_classes: int,
        class_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        channels_last: bool = False,
        skip_nonfinite: bool = False,
    ) -> None:
        super().__init__()
        # plain values only: checkpoints stay loadable with torch.load(weights_only=True);
        # the optimizer settings travel in the checkpoint's config (flexseg.utils.ckpt_config)
        self.save_hyperparameters(ignore=["net", "criterion", "optimizer", "param_groups", "scheduler"])
        self.net = net
        self.criterion = criterion
        self.make_optimizer, self.param_group_rule, self.make_scheduler = optimizer, param_groups, scheduler
        self.num_classes = num_classes
        if class_names is None:  # Cityscapes names for 19 classes, else numbered
            class_names = CLASS_NAMES if num_classes == len(CLASS_NAMES) else [f"class_{c}" for c in range(num_classes)]
        self.class_names = tuple(str(n) for n in class_names)
        if len(self.class_names) != num_classes:
            raise ValueError(f"{len(self.class_names)} class names for num_classes={num_classes}")
        self.ignore_index = ignore_index
        self.boundary_kernel_sizes = tuple(boundary_kernel_sizes)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255, persistent=False)
        self.eval_metrics = nn.ModuleDict()
        self.domains: list[str] = []
        self.val_domains: list[str] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.val_results: dict[str, dict[str, Any]] = {}
        self.skipped_nonfinite = 0
        self._fd_classes: torch.Tensor | None = None
        self._styles_step = -1  # global step of the last SHADE base-style refresh
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
        """Forward + training loss for one batch (docs/recipe.md).

        ``loss = w_fused·L_seg(logits) + Σ_aux w_aux·L_seg(aux logits, labels cropped to the
        aux box) + λ_gap·L_GAP + λ_fd·L_FD + λ_style·L_consistency``; w_fused is the
        network's ``logits_weight`` (1 for DAFormer, 0.9 for HRDA), L_GAP is never scaled
        by it. L_FD and L_consistency are present when the network's feature distance /
        SHADE are on. ``per_image`` [B] (for HAS) is the same weighted sum of the images'
        segmentation losses without the GAP, FD and consistency terms; with SHADE (batch
        doubled to [originals; hallucinated]) it is the mean of an image's two copies.
        """
        labels = batch["label"]
        out = self.net(self.normalize(batch["image"]))
        hallucinated = bool(out.get("hallucinated", False))
        if hallucinated:  # SHADE: [originals; hallucinated], the labels hold for both
            labels = torch.cat([labels, labels], dim=0)
        box = out.get("features_box")
        weight = float(out.get("logits_weight", 1.0))
        losses = self.criterion(
            resize_logits(out["logits"], labels.shape[-2:]),
            out["features"],
            labels,
            feature_labels=crop(labels, box) if box is not None else None,
            seg_weight=weight,
        )
        total = losses["loss"]
        per_image = weight * losses["per_image"]
        for k, aux in enumerate(out.get("aux", []) or []):
            aux_labels = crop(labels, aux.get("box"))
            aux_losses = self.criterion.segmentation_loss(resize_logits(aux["logits"], aux_labels.shape[-2:]), aux_labels)
            total = total + aux["weight"] * aux_losses["loss"]
            per_image = per_image + aux["weight"] * aux_losses["per_image"]
            losses[f"loss_aux{k}"] = aux_losses["loss"]
        fd = out.get("fd")
        if fd is not None:
            cfg = self.net.fd_cfg
            if self._fd_classes is None or self._fd_classes.device != labels.device:
                self._fd_classes = torch.tensor(list(cfg["classes"]), dtype=torch.long, device=labels.device)
            loss_fd, n_fd = feature_distance_loss(
                fd["features"], fd["imnet_features"], labels, self._fd_classes, float(cfg["min_ratio"]),
                self.num_classes, self.ignore_index,
            )
            total = total + float(cfg["weight"]) * loss_fd.to(total.dtype)
            losses["loss_fd"], losses["fd_num_pixels"] = loss_fd, n_fd.float()
        if hallucinated:
            loss_style = style_consistency_loss(out["logits"], float(self.net.shade_cfg["consistency_weight"]))
            total = total + loss_style.to(total.dtype)
            losses["loss_style"] = loss_style
            half = per_image.shape[0] // 2
            per_image = (per_image[:half] + per_image[half:]) / 2
        losses["loss"] = total
        losses["per_image"] = per_image
        return losses

    # ------------------------------------------------------------------- SHADE
    def _shade(self) -> nn.Module | None:
        return getattr(getattr(self.net, "backbone", None), "style_hallucination", None)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """SHADE: (re)compute the base styles before the first step and every ``interval``
        steps (the reference's StyleHallucinationHook: before iteration 0 and after every
        interval-th iteration)."""
        sh = self._shade()
        if sh is None:
            return
        interval = int(self.net.shade_cfg["interval"])
        due = not sh._initialized_host or (interval > 0 and self.global_step % interval == 0)
        if due and self._styles_step != self.global_step:
            self._styles_step = self.global_step
            dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
            if dm is None or not hasattr(dm, "train_set"):
                raise RuntimeError("SHADE needs the training datamodule (train_set) to compute its base styles")
            self.refresh_styles(dm.train_set, num_workers=getattr(dm, "num_workers", 0))

    @torch.no_grad()
    def refresh_styles(self, train_set: Any, num_workers: int = 0) -> None:
        """Base styles from the stage-1 statistics of the source training images (module
        doc of flexseg.models.shade): the training set named ``shade.source`` (None = the
        first one) with its training transform (augmentation seeded by seed, refresh index
        and image), the network in eval mode; farthest-point sampling from a seeded start.
        Every DDP process reads all images, so all hold the same styles."""
        from torch.utils.data import DataLoader

        sh = self._shade()
        cfg = self.net.shade_cfg
        names = list(getattr(train_set, "names", []))
        parts = list(getattr(train_set, "parts", [train_set]))
        name = cfg["source"]
        if name is None:
            part = parts[0]
        elif name in names:
            part = parts[names.index(name)]
        else:
            raise ValueError(f"shade.source {name!r} is not a training set; training sets: {names}")
        seed = int(self.net.seed) if hasattr(self.net, "seed") else 0
        refresh = self.global_step // max(int(cfg["interval"]), 1)
        n = len(part)
        count = n if cfg["max_images"] is None else min(int(cfg["max_images"]), n)
        g = torch.Generator().manual_seed(seed * 1_000_003 + refresh)
        order = torch.randperm(n, generator=g)[:count].tolist() if count < n else list(range(n))
        base = seed * 1_000_003 + refresh * 100_003
        loader = DataLoader(_StyleImages(part, order, base), batch_size=int(cfg["batch_size"]), shuffle=False, num_workers=num_workers)
        was_training = self.net.training
        self.net.eval()
        stats = []
        for images in loader:
            feats = self.net.style_features(self.normalize(images.to(self.device))).float()
            mean, std = style_statistics(feats)
            stats.append(torch.stack([mean, std], dim=1))
        self.net.train(was_training)
        allstats = torch.cat(stats).cpu()
        start = int(torch.randint(allstats.shape[0], (1,), generator=g))
        proto_mean, proto_std = base_styles(allstats, sh.num_styles, start)
        sh.set_styles(proto_mean.to(sh.proto_mean), proto_std.to(sh.proto_std))

    def training_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor] | None:
        """Loss of one batch; returns ``{"loss", "per_image"}`` (per-image losses [B], detached:
        :class:`~flexseg.data.feedback.SamplerFeedback` hands them to the batch sampler), or
        None when a non-finite loss is skipped."""
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
        bs = batch["image"].shape[0]
        # DDP: each rank's loss is rescaled to the global-batch mean; their average is it
        self.log("train/loss", loss, prog_bar=True, batch_size=bs, sync_dist=distributed)
        for key, value in losses.items():
            if key not in ("loss", "per_image") and torch.is_tensor(value) and value.numel() == 1:
                self.log(f"train/{key}", value.detach().float(), batch_size=bs, sync_dist=distributed)
        self._log_diagnostics(bs)
        return {"loss": loss, "per_image": losses["per_image"].detach()}

    def _log_diagnostics(self, bs: int) -> None:
        bank = getattr(self.criterion, "bank", None)
        if bank is not None and getattr(self.criterion, "gap_enabled", False):
            counts = bank.counts.float().flatten()
            self.log_dict(
                {"flex/proto_count_min": counts.min(), "flex/proto_count_median": counts.median(),
                 "flex/proto_count_max": counts.max()},
                batch_size=bs,
            )

    # --------------------------------------------------------------- evaluation
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is not None and hasattr(dm, "domains"):
            self.set_domains(dm.domains, getattr(dm, "val_domains", None))

    def set_domains(self, domains: Sequence[str], val_domains: Sequence[str] | None = None) -> None:
        """Create one metric accumulator per evaluation domain; ``val_domains``: those of the
        validation loaders (a held-out source split), default ``domains``."""
        self.domains = list(domains)
        self.val_domains = list(domains if val_domains is None else val_domains)
        every = list(dict.fromkeys([*self.domains, *self.val_domains]))
        self.eval_metrics = nn.ModuleDict(
            {self._key(d): SegmentationMetrics(self.num_classes, self.ignore_index) for d in every}
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
        self.evaluate_batch(batch, self.val_domains[dataloader_idx])

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(batch, dataloader_idx)

    def _finish_eval(self, stage: str) -> None:
        results: dict[str, dict[str, Any]] = {}
        for domain in (self.val_domains if stage == "val" else self.domains):
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
                "iou": {name: float(v) for name, v in zip(self.class_names, r["iou"].tolist())},
            }
            for key in ("miou", "acc", "boundary_acc", "interior_acc"):
                value = results[domain][key]
                if not math.isnan(value):
                    self.log(f"{stage}/{domain}/{key}", value, add_dataloader_idx=False, sync_dist=False)
        if results:
            mious = [r["miou"] for r in results.values()]
            self.log(f"{stage}/mean_miou", sum(mious) / len(mious), add_dataloader_idx=False)
        self.results = results
        if stage == "val":
            self.val_results = results

    def on_validation_epoch_end(self) -> None:
        self._finish_eval("val")

    def on_test_epoch_end(self) -> None:
        self._finish_eval("test")

    # ------------------------------------------------------------ checkpointing
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the global RNG states (dropout draws) so a resumed run is exact; with a
        network whose frozen backbone comes from a pretrained file (``model.tuning=frozen |
        lora | rein`` with ``model.pretrained``), leave those weights out and record the
        file's path and SHA-256 under ``flexseg_backbone`` (a compact checkpoint)."""
        checkpoint["flexseg_rng"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint["flexseg_rng"]["cuda"] = torch.cuda.get_rng_state_all()
        record = compact_state_dict(checkpoint["state_dict"], self.net, prefix="net.")
        if record is not None:
            checkpoint[BACKBONE_RECORD] = record

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the RNG states; for a compact checkpoint check that the network loaded the
        recorded backbone file (SHA-256) and put its frozen weights back into the state dict,
        which Lightning then loads strictly (it calls this hook first)."""
        rng = checkpoint.get("flexseg_rng")
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and torch.cuda.is_available():
                try:
                    torch.cuda.set_rng_state_all(rng["cuda"])
                except (RuntimeError, IndexError):  # different number of GPUs: not exact, but fine
                    pass
        record = checkpoint.get(BACKBONE_RECORD)
        if record is not None:
            path = getattr(self._trainer, "ckpt_path", None) if self._trainer is not None else None
            source = f"checkpoint '{path}'" if path else "the checkpoint"
            restore_excluded_weights(checkpoint["state_dict"], self.net, record, source, prefix="net.")

    # ---------------------------------------------------------------- optimizer
    def configure_optimizers(self):
        """Groups of the network's encoder / head parameters (the criterion's count as head)
        by ``param_groups``, with the optimizer partial's ``lr`` and ``weight_decay``;
        the scheduler steps once per optimizer step over ``trainer.max_steps``."""
        settings = getattr(self.make_optimizer, "keywords", {})
        missing = [k for k in ("lr", "weight_decay") if k not in settings]
        if missing:
            raise ValueError(f"the optimizer must be a partial with {', '.join(missing)} "
                             "(optim.optimizer with _partial_: true, conf/optim/adamw_poly.yaml)")
        head_names = {id(p) for p in self.net.head_parameters()}
        encoder = [(n, p) for n, p in self.net.named_parameters() if id(p) not in head_names]
        head = [(n, p) for n, p in self.net.named_parameters() if id(p) in head_names]
        head += [(f"criterion.{n}", p) for n, p in self.criterion.named_parameters()]
        # per-parameter lr multipliers of the network (a ViT's layer-wise decay), when it has any
        scales = self.net.lr_scales() if callable(getattr(self.net, "lr_scales", None)) else {}
        extra = {"lr_scales": scales} if scales else {}
        groups = self.param_group_rule(encoder, head, lr=settings["lr"], weight_decay=settings["weight_decay"], **extra)
        optimizer = self.make_optimizer(groups)
        max_steps = self.trainer.max_steps
        if max_steps is None or max_steps <= 0:
            raise ValueError("trainer.max_steps must be set (> 0): the poly schedule needs the run length")
        scheduler = self.make_scheduler(optimizer, max_steps=max_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
