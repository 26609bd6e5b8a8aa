"""GAP — granular adaptive prototypes: a weighted InfoNCE pulling each boundary pixel's
embedding towards the prototype of its (class, granularity) pair, against all C×G
prototypes of a momentum-updated bank.

Pieces (pure math, no Lightning):

* :class:`ProjectionHead` — 1×1 conv → BN → ReLU → 1×1 conv, L2-normalized output.
* :func:`downsample_labels` — nearest label downsampling to the feature resolution.
* :func:`sample_boundary_pixels` — boundary pixels (≤ ``max_pixels``, class-balanced).
* :func:`gap_loss` — L = −1/N Σ_i w_{c_i,g_i} log softmax_j(⟨f_i,p_j⟩/τ)[(c_i,g_i)].
* :class:`PrototypeBank` — prototypes [C,G,D] and update counts [C,G] as buffers.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from flexseg.utils.distributed import world_size

__all__ = [
    "ProjectionHead",
    "PrototypeBank",
    "downsample_labels",
    "gap_loss",
    "sample_boundary_pixels",
]


def _check_pixels(features: torch.Tensor, classes: torch.Tensor, granularities: torch.Tensor) -> None:
    if not isinstance(features, torch.Tensor) or features.ndim != 2 or not features.is_floating_point():
        raise ValueError(f"features must be a float tensor [N,D], got {getattr(features, 'shape', type(features))}")
    n = features.shape[0]
    for name, t in (("classes", classes), ("granularities", granularities)):
        if not isinstance(t, torch.Tensor) or t.ndim != 1 or t.shape[0] != n:
            raise ValueError(f"{name} must be a tensor [N] with N = {n}, got {getattr(t, 'shape', type(t))}")
        if t.dtype == torch.bool or t.is_floating_point():
            raise ValueError(f"{name} must be an integer tensor, got dtype {t.dtype}")


def _check_range(classes: torch.Tensor, granularities: torch.Tensor, C: int, G: int) -> None:
    if classes.numel() == 0:
        return
    lo = torch.stack([classes.min(), granularities.min()]).tolist()
    hi = torch.stack([classes.max(), granularities.max()]).tolist()
    if lo[0] < 0 or hi[0] >= C:
        raise ValueError(f"classes must lie in [0, {C}), got range [{lo[0]}, {hi[0]}]")
    if lo[1] < 0 or hi[1] >= G:
        raise ValueError(f"granularities must lie in [0, {G}), got range [{lo[1]}, {hi[1]}]")


def gap_loss(
    features: torch.Tensor,
    classes: torch.Tensor,
    granularities: torch.Tensor,
    prototypes: torch.Tensor,
    weights: torch.Tensor,
    tau: float = 0.07,
) -> torch.Tensor:
    """Weighted InfoNCE over all C×G prototypes → scalar.

    L = −1/N Σ_i w[c_i,g_i] · log softmax_j(⟨f_i, p_j⟩/τ)[c_i·G + g_i], j over the C·G
    flattened prototypes. ``features`` [N,D] (unit vectors), ``classes``/``granularities``
    [N] int, ``prototypes`` [C,G,D], ``weights`` [C,G]. N = 0 → ``features.sum()·0``
    (0, finite, part of the graph). Gradient flows into whatever requires grad; the
    bank's prototypes and weights are buffers, so only into ``features``. Computed in
    float32 (also under autocast); returns a float32 scalar.
    """
    _check_pixels(features, classes, granularities)
    if prototypes.ndim != 3 or prototypes.shape[-1] != features.shape[1]:
        raise ValueError(f"prototypes must be [C,G,D] with D = {features.shape[1]}, got {tuple(prototypes.shape)}")
    C, G, D = prototypes.shape
    if tuple(weights.shape) != (C, G):
        raise ValueError(f"weights must be [C,G] = {(C, G)}, got {tuple(weights.shape)}")
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if features.shape[0] == 0:
        return features.float().sum() * 0.0
    _check_range(classes, granularities, C, G)
    # float32 even under autocast: with τ = 0.07 the logits reach ±14, where bf16 rounds by ~0.06
    with torch.autocast(device_type=features.device.type, enabled=False):
        logits = features.float() @ prototypes.reshape(C * G, D).float().t() / tau  # [N, C·G]
    target = classes.long() * G + granularities.long()
    logp = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    w = weights.reshape(C * G).to(logp.dtype)[target]
    return -(w * logp).mean()


class ProjectionHead(nn.Module):
    """1×1 conv (in_dim→in_dim) → BN → ReLU → 1×1 conv (in_dim→dim), L2-normalized over
    channels: [B,in_dim,h,w] → [B,dim,h,w] unit vectors."""

    def __init__(self, in_dim: int = 256, dim: int = 256) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_dim, in_dim, 1, bias=False)
        self.bn = nn.BatchNorm2d(in_dim)
        self.conv2 = nn.Conv2d(in_dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"ProjectionHead expects [B,C,h,w], got {tuple(x.shape)}")
        return F.normalize(self.conv2(F.relu(self.bn(self.conv1(x)))), dim=1)


def downsample_labels(labels: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Nearest downsampling of ``labels`` [B,H,W] (int) to ``size`` (h,w) → int64 [B,h,w].

    Uses ``F.interpolate(mode="nearest")`` on float labels: output pixel (i,j) takes input
    pixel (⌊i·H/h⌋, ⌊j·W/w⌋) — for an integer factor s, the top-left pixel of each s×s
    block. Exact for label values below 2**24.
    """
    if not isinstance(labels, torch.Tensor) or labels.ndim != 3:
        raise ValueError(f"labels must be a tensor [B,H,W], got {getattr(labels, 'shape', type(labels))}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    hw = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"size must be an int or (h, w) with positive entries, got {size!r}")
    if tuple(labels.shape[-2:]) == hw:
        return labels.long()
    out = F.interpolate(labels[:, None].float(), size=hw, mode="nearest")
    return out[:, 0].long()


def sample_boundary_pixels(
    features: torch.Tensor,
    labels_lowres: torch.Tensor,
    granularity: torch.Tensor,
    num_classes: int,
    max_pixels: int = 4096,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boundary pixels of ``features`` [B,D,h,w] → (feats [N,D], classes [N], granularities [N]).

    Candidates: pixels with ``granularity`` ≥ 0 and a valid label (0 ≤ label <
    num_classes), ``labels_lowres``/``granularity`` [B,h,w]. If there are at most
    ``max_pixels`` candidates all are taken; otherwise class-balanced: each of the K
    classes present gets a quota ⌊max_pixels/K⌋ of randomly chosen pixels (all of its
    pixels if fewer), and the leftover budget is filled uniformly at random from the
    remaining candidates. The choice depends only on the inputs and the state of
    ``generator`` (random numbers are drawn on the generator's device; ``None`` → the
    global RNG of ``features``' device). Outputs are in raster order (b, y, x).
    """
    if features.ndim != 4:
        raise ValueError(f"features must be [B,D,h,w], got {tuple(features.shape)}")
    B, D, h, w = features.shape
    for name, t in (("labels_lowres", labels_lowres), ("granularity", granularity)):
        if tuple(t.shape) != (B, h, w):
            raise ValueError(f"{name} must be [B,h,w] = {(B, h, w)}, got {tuple(t.shape)}")
        if t.is_floating_point() or t.dtype == torch.bool:
            raise ValueError(f"{name} must be an integer tensor, got dtype {t.dtype}")
    if max_pixels < 0:
        raise ValueError(f"max_pixels must be ≥ 0, got {max_pixels}")
    flat_feats = features.permute(0, 2, 3, 1).reshape(B * h * w, D)
    lab = labels_lowres.reshape(-1).long()
    gran = granularity.reshape(-1).long()
    cand = ((gran >= 0) & (lab >= 0) & (lab < num_classes)).nonzero().squeeze(1)
    n = cand.numel()
    if n > max_pixels:
        cand = cand[_balanced_choice(lab[cand], num_classes, max_pixels, generator)]
    return flat_feats[cand], lab[cand], gran[cand]


def _balanced_choice(cls: torch.Tensor, num_classes: int, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """Sorted positions of ``k`` < len(cls) elements chosen class-balanced (see above)."""
    n, device = cls.numel(), cls.device
    rng_device = generator.device if generator is not None else device
    keys = torch.rand(n, generator=generator, device=rng_device).to(device)
    refill_keys = torch.rand(n, generator=generator, device=rng_device).to(device)
    # group by class, random order inside each class
    perm = keys.argsort()
    perm = perm[cls[perm].argsort(stable=True)]
    counts = torch.bincount(cls, minlength=num_classes)
    present = int((counts > 0).sum())
    quota = k // present
    starts = counts.cumsum(0) - counts
    rank_in_class = torch.arange(n, device=device) - starts[cls[perm]]
    chosen = torch.zeros(n, dtype=torch.bool, device=device)
    chosen[perm[rank_in_class < quota]] = True
    left = k - int(chosen.sum())
    if left > 0:
        rest = (~chosen).nonzero().squeeze(1)
        pick = refill_keys[rest].argsort()[:left]
        chosen[rest[pick]] = True
    return chosen.nonzero().squeeze(1)


class PrototypeBank(nn.Module):
    """Momentum bank of C×G unit prototypes with per-pair update counts.

    Buffers: ``prototypes`` [C,G,D] float32, unit norm; initialized deterministically to
    normalized N(0,1) vectors from ``torch.Generator().manual_seed(init_seed)`` (the same
    on every rank). ``counts`` [C,G] int64: how many updates touched each pair.

    ``update`` is in place (buffers keep their identity, e.g. for DDP): compute the loss
    on a ``.clone()`` of ``prototypes`` if backward runs after the update.

    Weights (:meth:`weights`): with n_max the largest count, a seen pair (n > 0) gets
    w = min(n_max / n, max_weight); a never-seen pair gets ``max_weight``; if no pair has
    been seen yet all weights are 1 (nothing to rebalance). Hence equal counts → all 1,
    lower count → higher weight, 1 ≤ w ≤ max_weight.
    """

    prototypes: torch.Tensor
    counts: torch.Tensor

    def __init__(
        self,
        num_classes: int,
        num_granularities: int = 3,
        dim: int = 256,
        momentum: float = 0.99,
        max_weight: float = 5.0,
        init_seed: int = 0,
    ) -> None:
        super().__init__()
        if num_classes < 1 or num_granularities < 1 or dim < 1:
            raise ValueError("num_classes, num_granularities and dim must be ≥ 1")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if max_weight < 1.0:
            raise ValueError(f"max_weight must be ≥ 1, got {max_weight}")
        self.num_classes, self.num_granularities, self.dim = num_classes, num_granularities, dim
        self.momentum, self.max_weight = float(momentum), float(max_weight)
        gen = torch.Generator().manual_seed(init_seed)
        init = F.normalize(torch.randn(num_classes, num_granularities, dim, generator=gen), dim=-1)
        self.register_buffer("prototypes", init)
        self.register_buffer("counts", torch.zeros(num_classes, num_granularities, dtype=torch.long))

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, num_granularities={self.num_granularities}, "
                f"dim={self.dim}, momentum={self.momentum}, max_weight={self.max_weight}")

    @torch.no_grad()
    def update(self, features: torch.Tensor, classes: torch.Tensor, granularities: torch.Tensor) -> None:
        """Momentum update from pixels ``features`` [N,D] with pairs (``classes``,
        ``granularities``) [N].

        f_{c,g} = mean of the pair's features (over all ranks: per-pair sums and pixel
        counts are all-reduced when torch.distributed is initialized); first update of a
        pair copies f, later ones p ← m·p + (1−m)·f; touched prototypes are re-normalized
        and their counts incremented by 1. Under DDP every rank must call this (even with
        N = 0) the same number of times.
        """
        _check_pixels(features, classes, granularities)
        C, G, D = self.prototypes.shape
        if features.shape[1] != D:
            raise ValueError(f"features must have D = {D} channels, got {features.shape[1]}")
        _check_range(classes, granularities, C, G)
        feats = features.detach().to(self.prototypes.device, torch.float32)
        pair = (classes.long() * G + granularities.long()).to(feats.device)
        sums = torch.zeros(C * G, D, dtype=torch.float32, device=feats.device).index_add_(0, pair, feats)
        npix = torch.bincount(pair, minlength=C * G).to(torch.float32)
        if world_size() > 1:
            dist.all_reduce(sums)
            dist.all_reduce(npix)
        present = npix > 0
        mean = sums / npix.clamp_min(1.0)[:, None]
        protos = self.prototypes.view(C * G, D)
        counts = self.counts.view(C * G)
        first = present & (counts == 0)
        mixed = self.momentum * protos.float() + (1.0 - self.momentum) * mean
        new = torch.where(first[:, None], mean, torch.where(present[:, None], mixed, protos.float()))
        new = torch.where(present[:, None], F.normalize(new, dim=-1), new)
        protos.copy_(new.to(protos.dtype))
        counts.add_(present.to(counts.dtype))

    def weights(self) -> torch.Tensor:
        """Imbalance-aware weights [C,G] float32 (formula in the class docstring)."""
        n = self.counts.to(torch.float32)
        n_max = n.max()
        seen = n > 0
        w = torch.where(seen, n_max / n.clamp_min(1.0), torch.full_like(n, self.max_weight))
        w = w.clamp(max=self.max_weight)
        return torch.where(n_max > 0, w, torch.ones_like(w))
