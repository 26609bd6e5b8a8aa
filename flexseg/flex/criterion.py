"""FlexCriterion — the FLEX-Seg training loss L = L_UBE (or CE) + λ_gap·L_GAP.

Order inside ``forward`` (training, GAP on): sample boundary pixels from the labels
(fixed-size indices + mask), project the sampled pixels' features, compute L_GAP against
a snapshot (clone) of the bank's pre-update prototypes and weights, THEN update the bank
with the detached sampled features. Nothing in the loss reads a value back to the host,
so on a GPU the CPU keeps queueing work while the GPU computes. The projection head
and the :class:`~flexseg.flex.gap.PrototypeBank` are submodules, so they live in
checkpoints; the pixel-sampling generator's state is saved as the module's extra state.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from flexseg.flex.boundaries import boundary_bands, check_kernel_sizes, granularity_map
from flexseg.flex.gap import (
    ProjectionHead,
    PrototypeBank,
    downsample_labels,
    sample_boundary_indices,
    weighted_info_nce,
)
from flexseg.flex.ube import entropy_from_log_probs, ube_weights_from_entropy
from flexseg.utils.distributed import rescale_to_global_mean

__all__ = ["FlexCriterion"]

UBE_DEFAULTS: dict[str, Any] = {"enabled": True, "alpha": 3.0, "eps": 1e-6}
GAP_DEFAULTS: dict[str, Any] = {
    "enabled": True, "weight": 0.5, "tau": 0.07, "momentum": 0.99, "proj_dim": 256,
    "max_pixels": 4096, "max_weight": 5.0,
}


def _merge(defaults: Mapping[str, Any], given: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    out = dict(defaults)
    if given is None:
        out["enabled"] = False
        return out
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"FlexCriterion: unknown {name} option(s) {sorted(unknown)}; known: {sorted(defaults)}")
    out.update(given)
    return out


class FlexCriterion(nn.Module):
    """Training loss of FLEX-Seg.

    Args: ``num_classes``; ``ignore_index``; ``kernel_sizes`` of the boundary bands
    (granularities); ``feature_dim`` D of the decoder features; ``ube`` options
    (enabled, alpha, eps) or None = off; ``gap`` options (enabled, weight λ_gap, tau,
    momentum, proj_dim, max_pixels, max_weight) or None = off; ``seed`` of the
    pixel-sampling generator; ``normalize``: the segmentation loss is the mean over the
    ``valid`` (non-ignored) pixels, or over ``all`` pixels with ignored ones counting 0
    (mmseg's ``CrossEntropyLoss``, the reference recipes). ``per_image`` is always the
    mean over the image's valid pixels.

    ``forward(logits [B,C,H,W] at label resolution, features [B,D,h,w], labels [B,H,W])``
    → dict: ``loss`` (to backprop), ``loss_seg`` (UBE or CE), ``loss_gap`` (0 when off),
    ``per_image`` [B] detached mean per-pixel seg loss per image (0 for images without
    valid pixel; for HAS), ``ube_mean_boundary_weight`` (mean UBE weight over boundary
    pixels; 1 when UBE is off or there is no boundary pixel), ``gap_num_pixels`` (number
    of sampled boundary pixels, float). UBE's boundary is the thickest band at label
    resolution; GAP works at feature resolution on nearest-downsampled labels
    (``feature_labels`` when the features cover a crop of the labels, e.g. HRDA's detail
    crop). :meth:`segmentation_loss` alone (no GAP) serves auxiliary heads. Under DDP
    both means are taken over the pixels of all processes
    (:func:`~flexseg.utils.distributed.rescale_to_global_mean`), so R processes equal
    one process on the global batch.
    """

    def __init__(
        self,
        num_classes: int = 19,
        ignore_index: int = 255,
        kernel_sizes: Sequence[int] = (3, 5, 7),
        feature_dim: int = 256,
        ube: Mapping[str, Any] | None = None,
        gap: Mapping[str, Any] | None = None,
        seed: int = 0,
        normalize: str = "valid",
    ) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = int(num_classes), int(ignore_index)
        self.kernel_sizes = check_kernel_sizes(kernel_sizes)
        self.ube_cfg = _merge(UBE_DEFAULTS, ube, "ube")
        self.gap_cfg = _merge(GAP_DEFAULTS, gap, "gap")
        self.seed = int(seed)
        if normalize not in ("valid", "all"):
            raise ValueError(f"FlexCriterion: normalize must be 'valid' or 'all', got {normalize!r}")
        self.normalize = normalize
        self.generator = torch.Generator().manual_seed(self.seed)
        if self.gap_enabled:
            dim = int(self.gap_cfg["proj_dim"])
            self.projection = ProjectionHead(feature_dim, dim)
            self.bank = PrototypeBank(
                self.num_classes, len(self.kernel_sizes), dim,
                momentum=float(self.gap_cfg["momentum"]), max_weight=float(self.gap_cfg["max_weight"]),
            )

    @property
    def ube_enabled(self) -> bool:
        return bool(self.ube_cfg["enabled"])

    @property
    def gap_enabled(self) -> bool:
        return bool(self.gap_cfg["enabled"])

    def get_extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: Any) -> None:
        if isinstance(state, dict) and "generator" in state:
            self.generator.set_state(state["generator"].cpu())

    def _check_logits(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        if logits.ndim != 4 or labels.ndim != 3 or logits.shape[-2:] != labels.shape[-2:] or logits.shape[0] != labels.shape[0]:
            raise ValueError(
                f"FlexCriterion: logits [B,C,H,W] must match labels [B,H,W] (upsample logits to the label size first); "
                f"got logits {tuple(logits.shape)}, labels {tuple(labels.shape)}"
            )
        if logits.shape[1] != self.num_classes:
            raise ValueError(f"FlexCriterion: logits have {logits.shape[1]} classes, expected {self.num_classes}")

    def segmentation_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """UBE (or plain CE when UBE is off) of ``logits`` [B,C,H,W] vs ``labels`` [B,H,W]
        → dict ``loss`` (scalar), ``per_image`` [B] (detached, 0 without valid pixel),
        ``ube_mean_boundary_weight`` (detached; 1 when off or without boundary pixel)."""
        self._check_logits(logits, labels)
        labels = labels.long()
        valid = labels != self.ignore_index
        # = F.cross_entropy (the same two ops), keeping the log-softmax for UBE's entropy
        logp = F.log_softmax(logits.float(), dim=1)  # float32, as cross_entropy under autocast
        ce = F.nll_loss(logp, labels, ignore_index=self.ignore_index, reduction="none")
        if self.ube_enabled:
            # the thickest band alone (the thinner ones lie inside it)
            boundary = boundary_bands(labels, self.kernel_sizes[-1:], self.ignore_index)[:, 0]
            w = ube_weights_from_entropy(
                entropy_from_log_probs(logp), labels, boundary, alpha=float(self.ube_cfg["alpha"]),
                eps=float(self.ube_cfg["eps"]), ignore_index=self.ignore_index,
            )
            loss_map = w.to(ce.dtype) * ce
            on_b = boundary & valid
            nb = on_b.sum()
            mean_w = torch.where(nb > 0, (w * on_b).sum() / nb.clamp_min(1), torch.ones_like(w.sum()))
        else:
            loss_map = ce
            mean_w = torch.ones((), device=logits.device)
        n_img = valid.sum(dim=(1, 2)).clamp_min(1).to(loss_map.dtype)
        n_valid = valid.sum()
        if self.normalize == "all":  # mmseg's CrossEntropyLoss: mean over every pixel, ignored ones count 0
            n_valid = torch.full_like(n_valid, labels.numel())
        mean = loss_map.sum() / n_valid.clamp_min(1).to(loss_map.dtype)
        return {
            # under DDP: normalized by the valid pixels of all processes (global-batch mean)
            "loss": rescale_to_global_mean(mean, n_valid),
            "per_image": loss_map.detach().sum(dim=(1, 2)) / n_img,
            "ube_mean_boundary_weight": mean_w.detach(),
        }

    def prototype_loss(
        self, features: torch.Tensor, feature_labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """L_GAP of ``features`` [B,D,h,w] with labels ``feature_labels`` [B,H',W'] covering
        the same region (nearest-downsampled to h×w) → (loss, number of sampled pixels).
        Computed against the pre-update bank; in training mode the bank is updated after."""
        if features is None or features.ndim != 4 or features.shape[0] != feature_labels.shape[0]:
            raise ValueError(f"FlexCriterion: GAP needs features [B,D,h,w], got {getattr(features, 'shape', None)}")
        G = len(self.kernel_sizes)
        lab_low = downsample_labels(feature_labels.long(), features.shape[-2:])
        gran = granularity_map(lab_low, self.kernel_sizes, self.ignore_index)
        # fixed-size indices + mask: no step of this loss reads a value back to the host
        index, valid = sample_boundary_indices(
            lab_low, gran, self.num_classes, int(self.gap_cfg["max_pixels"]), self.generator
        )
        f = self.projection.embed_pixels(features, index)  # [K, proj_dim], unit vectors
        pair = torch.where(valid, lab_low.reshape(-1)[index] * G + gran.reshape(-1)[index], 0)  # c·G + g
        n = valid.sum().to(torch.float32)
        loss = weighted_info_nce(f, pair, self.bank.prototypes.clone(), self.bank.weights(), valid,
                                 tau=float(self.gap_cfg["tau"]))
        loss = rescale_to_global_mean(loss, n)  # DDP: mean over every process' sampled pixels
        if self.training:
            self.bank.update_pairs(f.detach(), pair, valid)
        return loss, n

    def forward(
        self,
        logits: torch.Tensor,
        features: torch.Tensor | None,
        labels: torch.Tensor,
        feature_labels: torch.Tensor | None = None,
        seg_weight: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """See the class docstring. ``feature_labels`` [B,H',W']: the labels of the region
        ``features`` cover when that is a crop of ``labels`` (HRDA's detail crop);
        default ``labels``. ``seg_weight`` scales the segmentation term only:
        ``loss = seg_weight·loss_seg + λ_gap·loss_gap`` (HRDA's fused weight 0.9; the
        returned ``loss_seg`` and ``per_image`` are unscaled)."""
        seg = self.segmentation_loss(logits, labels)
        out = {"loss_seg": seg["loss"], "per_image": seg["per_image"],
               "ube_mean_boundary_weight": seg["ube_mean_boundary_weight"]}
        # 1.0 leaves the term untouched (bitwise the same graph as before seg_weight existed)
        seg_term = seg["loss"] if seg_weight == 1.0 else float(seg_weight) * seg["loss"]
        if self.gap_enabled:
            loss_gap, n = self.prototype_loss(features, labels if feature_labels is None else feature_labels)
            out["loss"] = seg_term + float(self.gap_cfg["weight"]) * loss_gap.to(seg["loss"].dtype)
        else:
            loss_gap, n = torch.zeros((), device=logits.device), torch.zeros((), device=logits.device)
            out["loss"] = seg_term
        out["loss_gap"], out["gap_num_pixels"] = loss_gap, n
        return out
