"""FlexCriterion — the FLEX-Seg training loss L = L_UBE (or CE) + λ_gap·L_GAP.

Every hyperparameter arrives from ``conf/flex/default.yaml`` (no defaults here); the
order of operations inside ``forward`` and why it never waits for the GPU:
docs/flex.md.
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
from flexseg.utils.config import required_options
from flexseg.utils.distributed import rescale_to_global_mean

__all__ = ["FlexCriterion", "UBE_KEYS", "GAP_KEYS", "NORMALIZATIONS"]

#: the options of ``flex.ube`` and ``flex.gap`` (all required; values in :data:`HOME`)
UBE_KEYS = ("enabled", "alpha", "eps")
GAP_KEYS = ("enabled", "weight", "tau", "momentum", "proj_dim", "max_pixels", "max_weight")
#: ``flex.loss_normalization``: mean over the valid pixels, or over all pixels (ignored ones count 0)
NORMALIZATIONS = ("valid", "all")
HOME = "conf/flex/default.yaml"


def _options(given: Mapping[str, Any] | None, keys: Sequence[str], name: str) -> dict[str, Any]:
    """The options of ``name`` with every key of ``keys``; ``None`` = off."""
    return {"enabled": False} if given is None else required_options(given, keys, name, HOME)


def _positive(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{key} must be a positive number, got {value!r} ({HOME})")


class FlexCriterion(nn.Module):
    """Training loss of FLEX-Seg: L = seg_weight·L_seg + λ_gap·L_GAP (docs/flex.md).

    L_seg is UBE (:mod:`flexseg.flex.ube`) on the thickest boundary band, or plain
    cross-entropy when UBE is off; L_GAP (:mod:`flexseg.flex.gap`) runs at the feature
    resolution on nearest-downsampled labels. Hydra builds it from ``conf/flex/`` via
    :func:`flexseg.build.build_criterion`; a bad value is a ``ValueError`` naming its
    ``flex.*`` key. Under DDP both means are taken over the pixels of all processes.

    Args:
        num_classes: C, the classes of the logits and labels.
        kernel_sizes: ``flex.kernel_sizes``, the boundary-band kernels (odd, increasing),
            one granularity each.
        feature_dim: D, channels of the decoder features (the network's ``feature_dim``).
        ube: ``flex.ube`` options ``enabled``, ``alpha``, ``eps`` — all required; ``None`` = off.
        gap: ``flex.gap`` options ``enabled``, ``weight`` (λ_gap), ``tau``, ``momentum``,
            ``proj_dim``, ``max_pixels``, ``max_weight`` — all required; ``None`` = off.
        normalize: ``flex.loss_normalization``: ``valid`` = mean over the non-ignored
            pixels, ``all`` = over every pixel with ignored ones counting 0 (mmseg's
            ``CrossEntropyLoss``, the paper recipes). ``per_image`` is always the mean
            over the image's valid pixels.
        seed: seed of the GAP pixel-sampling generator (saved as extra state).
        ignore_index: label of ignored pixels.

    Returns:
        ``forward`` → dict: ``loss`` (to backprop), ``loss_seg`` (UBE or CE),
        ``loss_gap`` (0 when off), ``per_image`` (detached mean seg loss per image, for
        HAS), ``ube_mean_boundary_weight`` (1 when UBE is off or without boundary pixel),
        ``gap_num_pixels`` (sampled boundary pixels, float).

    Shape:
        - logits: :math:`(B, C, H, W)` at the label resolution.
        - features: :math:`(B, D, h, w)`; ``None`` when GAP is off.
        - labels: :math:`(B, H, W)` int64, ``ignore_index`` ignored.
        - per_image: :math:`(B,)`; every other output is a scalar.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> ube = {"enabled": True, "alpha": 3.0, "eps": 1e-6}
        >>> gap = {"enabled": True, "weight": 0.5, "tau": 0.07, "momentum": 0.99, "proj_dim": 8,
        ...        "max_pixels": 64, "max_weight": 5.0}
        >>> crit = FlexCriterion(4, kernel_sizes=(3, 5, 7), feature_dim=6, ube=ube, gap=gap, normalize="valid")
        >>> labels = torch.zeros(2, 16, 16, dtype=torch.long); labels[:, :, 8:] = 1
        >>> out = crit(torch.randn(2, 4, 16, 16), torch.randn(2, 6, 4, 4), labels)
        >>> bool(torch.isclose(out["loss"], out["loss_seg"] + 0.5 * out["loss_gap"]))
        True
        >>> out["per_image"].shape, out["gap_num_pixels"].item()
        (torch.Size([2]), 32.0)
        >>> no_tau = {k: v for k, v in gap.items() if k != "tau"}
        >>> FlexCriterion(4, kernel_sizes=(3, 5, 7), feature_dim=6, ube=ube, gap=no_tau, normalize="valid")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        flexseg.utils.config.ConfigError: flex.gap: missing flex.gap.tau (every option is required; ...)
    """

    def __init__(
        self,
        num_classes: int,
        *,
        kernel_sizes: Sequence[int],
        feature_dim: int,
        ube: Mapping[str, Any] | None,
        gap: Mapping[str, Any] | None,
        normalize: str,
        seed: int = 0,
        ignore_index: int = 255,
    ) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = int(num_classes), int(ignore_index)
        try:
            self.kernel_sizes = check_kernel_sizes(kernel_sizes)
        except ValueError as err:
            raise ValueError(f"flex.kernel_sizes: {err} ({HOME})") from err
        self.ube_cfg = _options(ube, UBE_KEYS, "flex.ube")
        self.gap_cfg = _options(gap, GAP_KEYS, "flex.gap")
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"flex.loss_normalization must be one of {NORMALIZATIONS}, got {normalize!r} ({HOME})")
        self.normalize = normalize
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        if self.ube_enabled and not self.ube_cfg["alpha"] >= 0:
            raise ValueError(f"flex.ube.alpha must be ≥ 0, got {self.ube_cfg['alpha']!r} ({HOME})")
        if self.gap_enabled:
            _positive("flex.gap.tau", self.gap_cfg["tau"])
            _positive("flex.gap.max_pixels", self.gap_cfg["max_pixels"])
            dim = int(self.gap_cfg["proj_dim"])
            self.projection = ProjectionHead(feature_dim, dim)
            try:  # the bank checks momentum, max_weight and the sizes itself
                self.bank = PrototypeBank(
                    self.num_classes, len(self.kernel_sizes), dim,
                    momentum=float(self.gap_cfg["momentum"]), max_weight=float(self.gap_cfg["max_weight"]),
                )
            except ValueError as err:
                raise ValueError(f"flex.gap: {err} ({HOME})") from err

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
        """L_seg alone: UBE on the thickest band, or plain CE when UBE is off (no GAP; also
        serves auxiliary heads such as HRDA's detail head).

        Args:
            logits: class scores at the label resolution.
            labels: class ids, ``ignore_index`` ignored.

        Returns:
            dict: ``loss`` (mean per ``normalize``, global under DDP), ``per_image``
            (detached mean over each image's valid pixels, 0 without one),
            ``ube_mean_boundary_weight`` (detached; 1 when UBE is off or without boundary pixel).

        Shape:
            - logits: :math:`(B, C, H, W)`; labels: :math:`(B, H, W)`.
            - per_image: :math:`(B,)`; loss and ube_mean_boundary_weight: :math:`()`.

        Example:
            >>> crit = FlexCriterion(3, kernel_sizes=(3,), feature_dim=1, ube=None, gap=None, normalize="valid")
            >>> labels = torch.tensor([[[0, 1], [2, 255]]])
            >>> logits = torch.zeros(1, 3, 2, 2)
            >>> round(crit.segmentation_loss(logits, labels)["loss"].item(), 4)  # log 3
            1.0986
        """
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
        """L_GAP against the pre-update bank; in training mode the bank is updated after.

        Args:
            features: decoder features (projected here by the GAP head).
            feature_labels: labels of the region ``features`` cover, nearest-downsampled to h×w.

        Returns:
            (loss, number of sampled boundary pixels as a float32 scalar); both computed
            without reading a value back to the host.

        Shape:
            - features: :math:`(B, D, h, w)`; feature_labels: :math:`(B, H', W')`.
        """
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
        """The training loss (outputs and shapes in the class docstring).

        Args:
            logits: :math:`(B, C, H, W)` at the label resolution.
            features: :math:`(B, D, h, w)` decoder features (``None`` when GAP is off).
            labels: :math:`(B, H, W)`.
            feature_labels: :math:`(B, H', W')`, the labels of the region ``features``
                cover when that is a crop of ``labels`` (HRDA's detail crop); default ``labels``.
            seg_weight: scales the segmentation term only: ``loss = seg_weight·loss_seg +
                λ_gap·loss_gap`` (HRDA's fused weight 0.9); ``loss_seg`` and ``per_image``
                are returned unscaled.
        """
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
