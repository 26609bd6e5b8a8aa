"""SHADE style hallucination (Zhao et al., ECCV 2022) as DGInStyle's HRDA baseline uses it
(docs/shade.md).

During training the encoder's stage-1 map x [B,C,H,W] is re-styled: each image's
channel statistics (mean, std over H×W) are replaced by a convex combination of K
*base styles* (``proto_mean``, ``proto_std`` [K,C]) with Dirichlet(concentration·1_K)
weights, and the batch becomes [x; x_new] (2B) for the rest of the encoder and the
decoder. The labels are duplicated, the segmentation loss covers both halves, and a
consistency loss ties the two halves' predictions. The base styles are chosen by
farthest-point sampling over the (mean, std) statistics of the source training images'
stage-1 maps, recomputed every ``interval`` iterations (and before the first one).

Pure functions here are tested against slow references in tests/unit/test_shade.py.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flexseg.utils.config import required_options

#: the options of ``model.shade``, all required (values in :data:`HOME`; num_styles and
#: style_dim null = the stage-1 width of the encoder)
SHADE_KEYS = ("enabled", "concentration", "num_styles", "style_dim", "consistency_weight", "interval",
              "source", "max_images", "batch_size")
HOME = "conf/model/shade/reference.yaml"
#: added to the std of the map being normalized (reference value)
STD_EPS = 1e-7


def shade_options(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``model.shade`` options with every key of :data:`SHADE_KEYS` (a missing or
    unknown key is an error naming it and :data:`HOME`); ``None`` = off."""
    return {"enabled": False} if given is None else required_options(given, SHADE_KEYS, "model.shade", HOME)


def style_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel statistics of maps x [B,C,H,W] → (mean [B,C], std [B,C]); std is the
    unbiased (N−1) one, as ``Tensor.std`` in the reference."""
    return x.mean(dim=(2, 3)), x.std(dim=(2, 3))


def hallucinate(
    x: torch.Tensor, weights: torch.Tensor, proto_mean: torch.Tensor, proto_std: torch.Tensor
) -> torch.Tensor:
    """Re-style x [B,C,H,W] with weights [B,K] over base styles [K,C]:
    ``(x − μ_x)/(σ_x + 1e-7)·(w·σ_P) + w·μ_P``; the statistics of x carry no gradient."""
    mean, std = style_statistics(x)
    mean, std = mean.detach()[..., None, None], (std.detach() + STD_EPS)[..., None, None]
    w = weights.to(x.dtype)
    new_mean = (w @ proto_mean.to(x.dtype))[..., None, None]
    new_std = (w @ proto_std.to(x.dtype))[..., None, None]
    return (x - mean) / std * new_std + new_mean


def style_consistency_loss(logits: torch.Tensor, weight: float) -> torch.Tensor:
    """SHADE's consistency between the two halves of logits [2B,K,h,w] (originals first):
    ``weight·(KL(p_a‖m) + KL(p_o‖m))/2``, m = clamp((p_o + p_a)/2, 1e-7, 1), each KL the
    mean over the B·h·w pixels of Σ_k p log(p/m) (``F.kl_div(..., 'batchmean')``)."""
    if logits.shape[0] % 2:
        raise ValueError(f"style consistency needs [originals; hallucinated] logits, got batch {logits.shape[0]}")
    prob = F.softmax(logits.float(), dim=1)
    b, k = logits.shape[0] // 2, logits.shape[1]
    p_o = prob[:b].permute(0, 2, 3, 1).reshape(-1, k)
    p_a = prob[b:].permute(0, 2, 3, 1).reshape(-1, k)
    log_mix = torch.clamp((p_a + p_o) / 2.0, 1e-7, 1).log()
    return weight * (F.kl_div(log_mix, p_a, reduction="batchmean") + F.kl_div(log_mix, p_o, reduction="batchmean")) / 2.0


def farthest_point_sampling(points: torch.Tensor, k: int, start: int) -> torch.Tensor:
    """Indices [k] of k points of points [N,D] picked greedily, each the farthest (squared
    Euclidean) from those already picked, starting at index ``start`` (PointNet++ FPS;
    ties → the lowest index). With k > N, as the reference's loop, the picks after all N
    points are index 0 repeated (a warning says so: fewer distinct base styles)."""
    n = points.shape[0]
    if k <= 0 or n <= 0:
        raise ValueError(f"farthest-point sampling needs k > 0 and points, got k={k}, {n} points")
    if k > n:
        warnings.warn(f"SHADE: {k} base styles from only {n} style samples: {k - n} of them repeat "
                      f"(use more images, or model.shade.num_styles <= {n})", stacklevel=2)
    if not 0 <= start < n:
        raise ValueError(f"start index {start} out of range for {n} points")
    points = points.double()
    chosen = torch.empty(k, dtype=torch.long)
    distance = torch.full((n,), float("inf"), dtype=torch.float64, device=points.device)
    far = start
    for i in range(k):
        chosen[i] = far
        distance = torch.minimum(distance, ((points - points[far]) ** 2).sum(dim=1))
        far = int(torch.argmax(distance))
    return chosen


def base_styles(stats: torch.Tensor, k: int, start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Base styles from per-image statistics stats [N,2,C] ((mean, std) per channel) →
    (proto_mean [k,C], proto_std [k,C]) of the farthest-point sample over the 2C-vectors."""
    idx = farthest_point_sampling(stats.reshape(stats.shape[0], -1), k, start).to(stats.device)
    chosen = stats[idx]
    return chosen[:, 0].clone(), chosen[:, 1].clone()


class StyleHallucination(nn.Module):
    """Base styles + Dirichlet weights; ``forward(x [B,C,H,W]) -> [x; x_new] [2B,C,H,W]``.

    Buffers ``proto_mean``, ``proto_std`` [K,C] (reference names) and ``initialized`` live
    in checkpoints; the Dirichlet draws come from a NumPy generator seeded with ``seed``
    whose state is the module's extra state, so a run and its resumption draw the same
    weights. Training before the base styles were set is an error.
    """

    def __init__(self, channels: int, num_styles: int | None, concentration: float, seed: int = 0) -> None:
        super().__init__()
        k = int(num_styles or channels)
        if concentration <= 0 or k <= 0:
            raise ValueError(f"SHADE: concentration and num_styles must be positive, got {concentration}, {k}")
        self.channels, self.num_styles, self.concentration = int(channels), k, float(concentration)
        self.register_buffer("proto_mean", torch.zeros(k, channels))
        self.register_buffer("proto_std", torch.zeros(k, channels))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.rng = np.random.default_rng(int(seed))
        self._initialized_host = False

    def get_extra_state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def set_extra_state(self, state: Any) -> None:
        if isinstance(state, dict) and "rng" in state:
            self.rng.bit_generator.state = state["rng"]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[override]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._initialized_host = bool(self.initialized)

    @torch.no_grad()
    def set_styles(self, proto_mean: torch.Tensor, proto_std: torch.Tensor) -> None:
        if proto_mean.shape != self.proto_mean.shape or proto_std.shape != self.proto_std.shape:
            raise ValueError(f"SHADE: base styles must be {tuple(self.proto_mean.shape)}, got {tuple(proto_mean.shape)}")
        self.proto_mean.copy_(proto_mean)
        self.proto_std.copy_(proto_std)
        self.initialized.fill_(True)
        self._initialized_host = True

    def sample_weights(self, batch: int) -> torch.Tensor:
        """Dirichlet(concentration·1_K) weights [batch, K] (float32, CPU)."""
        w = self.rng.dirichlet(np.full(self.num_styles, self.concentration), size=batch)
        return torch.from_numpy(w).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"SHADE: expected {self.channels} channels, got {x.shape[1]}")
        if not self._initialized_host:
            raise RuntimeError(
                "SHADE: base styles were never computed (SegModule refreshes them before the first "
                "training step; call SegModule.refresh_styles() when training outside Lightning)"
            )
        w = self.sample_weights(x.shape[0]).to(x.device, non_blocking=True)
        return torch.cat([x, hallucinate(x, w, self.proto_mean, self.proto_std)], dim=0)
