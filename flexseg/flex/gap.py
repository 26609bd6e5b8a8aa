"""GAP — granular adaptive prototypes: a weighted InfoNCE pulling each boundary pixel's
embedding towards the prototype of its (class, granularity) pair, against all C×G
prototypes of a momentum-updated bank (docs/design.md §1, §3).

    L_GAP = −1/N Σ_i w_{c_i,g_i} · log softmax_j(⟨f_i, p_j⟩/τ)[(c_i, g_i)]

Pieces: :class:`ProjectionHead` (pixel embeddings), :func:`downsample_labels` (labels at
the feature resolution), :func:`sample_boundary_indices` / :func:`sample_boundary_pixels`
(≤ ``max_pixels`` boundary pixels, class-balanced), :func:`gap_loss` and its unchecked,
maskable core :func:`weighted_info_nce`, :class:`PrototypeBank` (prototypes, counts,
weights). How the sampling avoids host syncs and stays the same on CPU and GPU: docs/flex.md.
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
    "sample_boundary_indices",
    "sample_boundary_pixels",
    "weighted_info_nce",
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
    """Weighted InfoNCE of pixel embeddings over all C×G prototypes.

    L = −1/N Σ_i w[c_i,g_i] · log softmax_j(⟨f_i, p_j⟩/τ)[c_i·G + g_i], j over the C·G
    flattened prototypes. Gradient flows into whatever requires grad (in FlexSeg only
    ``features``: the bank's tensors are buffers). Computed in float32, also under autocast.

    Args:
        features: pixel embeddings (unit vectors).
        classes: class c_i of each pixel, in [0, C).
        granularities: granularity g_i of each pixel, in [0, G).
        prototypes: the bank's prototypes.
        weights: the imbalance-aware pair weights.
        tau: temperature τ > 0 (paper: 0.07).

    Returns:
        float32 scalar; N = 0 gives 0 (finite, part of the graph).

    Shape:
        - features: :math:`(N, D)`; classes, granularities: :math:`(N,)`.
        - prototypes: :math:`(C, G, D)`; weights: :math:`(C, G)`; output: :math:`()`.

    Example:
        >>> protos = torch.eye(2).reshape(2, 1, 2)  # C=2 classes, G=1, D=2
        >>> f = torch.tensor([[1.0, 0.0]])
        >>> loss = gap_loss(f, torch.tensor([0]), torch.tensor([0]), protos, torch.ones(2, 1), tau=1.0)
        >>> round(loss.item(), 4)  # −log(e / (e + 1))
        0.3133
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
    return weighted_info_nce(features, classes.long() * G + granularities.long(), prototypes, weights, tau=tau)


def weighted_info_nce(
    features: torch.Tensor,
    target: torch.Tensor,
    prototypes: torch.Tensor,
    weights: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    tau: float,
) -> torch.Tensor:
    """:func:`gap_loss` on flattened pairs, unchecked (nothing is read back to the host).

    Args:
        features: pixel embeddings (unit vectors).
        target: flattened pair c·G + g of each row, in [0, C·G).
        prototypes, weights: as :func:`gap_loss`.
        valid: rows that count (``None`` = all); padding rows (any target in range) add
            nothing: the loss is −Σ_valid w·log p / max(#valid, 1).
        tau: temperature τ > 0 (``flex.gap.tau``).

    Returns:
        float32 scalar, also under autocast.

    Shape:
        - features: :math:`(N, D)`; target, valid: :math:`(N,)`; prototypes: :math:`(C, G, D)`; weights: :math:`(C, G)`.

    Example:
        >>> protos = torch.eye(2).reshape(2, 1, 2)
        >>> f = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> valid = torch.tensor([True, False])  # the second row is padding
        >>> round(weighted_info_nce(f, torch.tensor([0, 0]), protos, torch.ones(2, 1), valid, tau=1.0).item(), 4)
        0.3133
    """
    C, G, D = prototypes.shape
    # float32 even under autocast: with τ = 0.07 the logits reach ±14, where bf16 rounds by ~0.06
    with torch.autocast(device_type=features.device.type, enabled=False):
        logits = features.float() @ prototypes.reshape(C * G, D).float().t() / tau  # [N, C·G]
    target = target.long()
    logp = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    w = weights.reshape(C * G).to(logp.dtype)[target]
    if valid is None:
        return -(w * logp).sum() / max(target.numel(), 1)
    return -torch.where(valid, w * logp, 0.0).sum() / valid.sum().clamp_min(1).to(logp.dtype)


class ProjectionHead(nn.Module):
    """GAP's projection: 1×1 conv (in_dim→in_dim) → BN → ReLU → 1×1 conv (in_dim→dim),
    L2-normalized over channels.

    Args:
        in_dim: channels D_in of the decoder features (the network's ``feature_dim``).
        dim: embedding / prototype dimension (``flex.gap.proj_dim``).

    Shape:
        - input: :math:`(B, D_{in}, h, w)`; output: :math:`(B, dim, h, w)` unit vectors.

    Example:
        >>> head = ProjectionHead(4, 3)
        >>> out = head(torch.randn(2, 4, 5, 5))
        >>> out.shape, bool(torch.allclose(out.norm(dim=1), torch.ones(2, 5, 5)))
        (torch.Size([2, 3, 5, 5]), True)
    """

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_dim, in_dim, 1, bias=False)
        self.bn = nn.BatchNorm2d(in_dim)
        self.conv2 = nn.Conv2d(in_dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.conv2(self.hidden(x)), dim=1)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 → BN → ReLU: [B,in_dim,h,w] → [B,in_dim,h,w] (BN statistics over all pixels)."""
        if x.ndim != 4:
            raise ValueError(f"ProjectionHead expects [B,C,h,w], got {tuple(x.shape)}")
        return F.relu(self.bn(self.conv1(x)))

    def embed_pixels(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Unit embeddings [K,dim] of the pixels of ``x`` [B,in_dim,h,w] at flat positions
        ``index`` [K] into B·h·w (raster order b, y, x) — ``forward(x)`` at those pixels,
        with the second conv and the normalization computed for the K pixels only."""
        hid = self.hidden(x)
        B, Cin, h, w = hid.shape
        if hid.is_contiguous(memory_format=torch.channels_last) and not hid.is_contiguous():
            rows = hid.permute(0, 2, 3, 1).reshape(B * h * w, Cin)[index]  # a view, then gather
        else:
            rows = hid.flatten(2)[index // (h * w), :, index % (h * w)]  # [K, in_dim]
        return F.normalize(F.linear(rows, self.conv2.weight.flatten(1), self.conv2.bias), dim=1)


def downsample_labels(labels: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Nearest downsampling of labels to the feature resolution: output pixel (i, j)
    takes input pixel (⌊i·H/h⌋, ⌊j·W/w⌋) — for an integer factor s, the top-left pixel of
    each s×s block (``F.interpolate(mode="nearest")``, exact below 2**24).

    Args:
        labels: integer class ids.
        size: (h, w), or one int for both.

    Returns:
        int64 labels.

    Shape:
        - labels: :math:`(B, H, W)`; output: :math:`(B, h, w)`.

    Example:
        >>> downsample_labels(torch.arange(16).reshape(1, 4, 4), 2)
        tensor([[[ 0,  2],
                 [ 8, 10]]])
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
    max_pixels: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The boundary pixels :func:`sample_boundary_indices` chooses (same arguments, same
    generator draws), gathered without the padding. Reading N back makes the host wait
    for the device; the training criterion uses the fixed-size indices instead.

    Args:
        features: per-pixel features.
        labels_lowres, granularity, num_classes, max_pixels, generator: as
            :func:`sample_boundary_indices`.

    Returns:
        (features, classes, granularities) of the N = min(#candidates, ``max_pixels``)
        chosen pixels, in raster order (b, y, x).

    Shape:
        - features: :math:`(B, D, h, w)`; labels_lowres, granularity: :math:`(B, h, w)`.
        - outputs: :math:`(N, D)`, :math:`(N,)`, :math:`(N,)`.

    Example:
        >>> lab = torch.tensor([[[0, 0, 1, 1]]])
        >>> gran = torch.tensor([[[-1, 0, 0, -1]]])
        >>> f, c, g = sample_boundary_pixels(torch.arange(4.0).reshape(1, 1, 1, 4), lab, gran, 2, max_pixels=8)
        >>> f.flatten().tolist(), c.tolist(), g.tolist()
        ([1.0, 2.0], [0, 1], [0, 0])
    """
    if features.ndim != 4:
        raise ValueError(f"features must be [B,D,h,w], got {tuple(features.shape)}")
    B, D, h, w = features.shape
    if tuple(labels_lowres.shape) != (B, h, w):
        raise ValueError(f"labels_lowres must be [B,h,w] = {(B, h, w)}, got {tuple(labels_lowres.shape)}")
    index, valid = sample_boundary_indices(labels_lowres, granularity, num_classes, max_pixels, generator)
    index = index[valid]
    flat_feats = features.permute(0, 2, 3, 1).reshape(B * h * w, D)
    return flat_feats[index], labels_lowres.reshape(-1)[index].long(), granularity.reshape(-1)[index].long()


def sample_boundary_indices(
    labels_lowres: torch.Tensor,
    granularity: torch.Tensor,
    num_classes: int,
    max_pixels: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed-size, class-balanced choice of at most ``max_pixels`` boundary pixels.

    Candidates: pixels with ``granularity`` ≥ 0 and a label in [0, num_classes). Each of
    the K_c classes present gets a quota ⌊max_pixels/K_c⌋ of random pixels (all of its
    pixels if fewer); random remaining candidates fill the leftover budget, so with at
    most ``max_pixels`` candidates all are taken. Nothing is read back to the host; the
    draws (2·B·h·w uniforms per call, whatever the labels) and tie-breaking are in
    docs/flex.md.

    Args:
        labels_lowres: integer labels at the feature resolution.
        granularity: :func:`~flexseg.flex.boundaries.granularity_map` of those labels.
        num_classes: C.
        max_pixels: the budget (``flex.gap.max_pixels``).
        generator: random source, drawn on its device (``None``: the global RNG of the
            labels' device).

    Returns:
        (index, valid): flat positions into B·h·w (raster order b, y, x), the n chosen
        ones first in raster order (``valid`` True), then padding (``valid`` False).

    Shape:
        - labels_lowres, granularity: :math:`(B, h, w)`.
        - index, valid: :math:`(K,)`, K = min(``max_pixels``, B·h·w).

    Example:
        >>> lab = torch.tensor([[[0, 0, 1, 1]]])
        >>> gran = torch.tensor([[[-1, 0, 0, -1]]])
        >>> index, valid = sample_boundary_indices(lab, gran, 2, max_pixels=3)
        >>> index[valid].tolist(), valid.tolist()
        ([1, 2], [True, True, False])
    """
    if labels_lowres.ndim != 3 or tuple(granularity.shape) != tuple(labels_lowres.shape):
        raise ValueError(
            f"labels_lowres and granularity must both be [B,h,w], got {tuple(labels_lowres.shape)} "
            f"and {tuple(granularity.shape)}"
        )
    for name, t in (("labels_lowres", labels_lowres), ("granularity", granularity)):
        if t.is_floating_point() or t.dtype == torch.bool:
            raise ValueError(f"{name} must be an integer tensor, got dtype {t.dtype}")
    if max_pixels < 0:
        raise ValueError(f"max_pixels must be ≥ 0, got {max_pixels}")
    device = labels_lowres.device
    lab = labels_lowres.reshape(-1).long()
    P = lab.numel()
    cand = (granularity.reshape(-1) >= 0) & (lab >= 0) & (lab < num_classes)
    keys = _uniform_keys(P, generator, device)  # [2,P]: class-quota keys, refill keys
    pos = torch.arange(P, device=device)
    # rank of each candidate inside its class, in random order; non-candidates form class C
    cls = torch.where(cand, lab, num_classes)
    perm = keys[0].argsort(stable=True)  # stable: ties (equal float32 keys) break by position on CPU and GPU alike
    perm = perm[cls[perm].argsort(stable=True)]
    counts = torch.zeros(num_classes + 1, dtype=torch.long, device=device).index_add_(0, cls, torch.ones_like(cls))
    present = (counts[:num_classes] > 0).sum()
    quota = max_pixels // present.clamp_min(1)
    starts = counts.cumsum(0) - counts
    rank = torch.empty_like(perm)
    rank[perm] = pos - starts[cls[perm]]
    chosen = cand & (rank < quota)
    # leftover budget: the remaining candidates with the smallest refill keys (keys < 1)
    rest = cand & ~chosen
    refill_rank = torch.empty_like(perm)
    refill_rank[torch.where(rest, keys[1], 2.0).argsort(stable=True)] = pos
    chosen = chosen | (rest & (refill_rank < max_pixels - chosen.sum()))
    # chosen first, in raster order; then the rest as padding (a stable partition, O(P))
    K = min(max_pixels, P)
    n = chosen.sum()
    c = chosen.long()
    slot = torch.where(chosen, c.cumsum(0) - 1, n + (1 - c).cumsum(0) - 1)
    order = torch.empty_like(pos)
    order[slot] = pos
    return order[:K], torch.arange(K, device=device) < n


def _uniform_keys(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """[2,n] uniform [0,1) numbers on ``device`` from ``generator``, drawn on its own
    device; a CPU→GPU copy goes through pinned memory without waiting for the GPU."""
    rng_device = generator.device if generator is not None else device
    keys = torch.rand(2, n, generator=generator, device=rng_device)
    if keys.device == device:
        return keys
    if device.type == "cuda" and keys.device.type == "cpu":
        return keys.pin_memory().to(device, non_blocking=True)
    return keys.to(device)


class PrototypeBank(nn.Module):
    """Momentum bank of C×G unit prototypes with per-pair update counts.

    Buffers (in checkpoints): ``prototypes`` [C,G,D] float32, unit norm, initialized to
    normalized N(0,1) vectors from ``torch.Generator().manual_seed(init_seed)`` (the same
    on every rank); ``counts`` [C,G] int64, the updates that touched each pair.
    :meth:`update` works in place (buffers keep their identity, e.g. for DDP): compute
    the loss on a ``.clone()`` of ``prototypes`` if backward runs after the update.

    Args:
        num_classes: C.
        num_granularities: G, one per boundary-band kernel.
        dim: D, the embedding dimension.
        momentum: m of p ← m·p + (1−m)·f, in [0, 1].
        max_weight: cap of :meth:`weights`, ≥ 1.
        init_seed: seed of the initial prototypes.

    Example:
        >>> bank = PrototypeBank(2, 1, dim=2, momentum=0.5)
        >>> bank.update(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), torch.tensor([0]))
        >>> bank.prototypes[0, 0].tolist(), bank.counts.flatten().tolist()  # first update copies f
        ([1.0, 0.0], [1, 0])
        >>> bank.weights().flatten().tolist()  # the unseen pair gets max_weight
        [1.0, 5.0]
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
        """Momentum update: f_{c,g} = mean of the pair's features (over all ranks under
        DDP, where every rank must call this the same number of times, even with N = 0);
        the first update of a pair copies f, later ones p ← m·p + (1−m)·f; touched
        prototypes are re-normalized and their counts incremented by 1.

        Args:
            features: pixel embeddings.
            classes: class of each pixel, in [0, C).
            granularities: granularity of each pixel, in [0, G).

        Shape:
            - features: :math:`(N, D)`; classes, granularities: :math:`(N,)`.
        """
        _check_pixels(features, classes, granularities)
        C, G, D = self.prototypes.shape
        if features.shape[1] != D:
            raise ValueError(f"features must have D = {D} channels, got {features.shape[1]}")
        _check_range(classes, granularities, C, G)
        self.update_pairs(features, classes.long() * G + granularities.long())

    @torch.no_grad()
    def update_pairs(self, features: torch.Tensor, pair: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """:meth:`update` on flattened pairs ``pair`` [N] = c·G + g in [0, C·G), unchecked
        (nothing is read back to the host); ``valid`` [N] bool marks the rows that count
        (None = all)."""
        C, G, D = self.prototypes.shape
        feats = features.detach().to(self.prototypes.device, torch.float32)
        pair = pair.long().to(feats.device)
        if valid is None:
            npix_rows = torch.ones_like(pair, dtype=torch.float32)
        else:
            valid = valid.to(feats.device)
            npix_rows = valid.to(torch.float32)
            feats = torch.where(valid[:, None], feats, 0.0)
        sums = torch.zeros(C * G, D, dtype=torch.float32, device=feats.device).index_add_(0, pair, feats)
        npix = torch.zeros(C * G, dtype=torch.float32, device=feats.device).index_add_(0, pair, npix_rows)
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
        """Imbalance-aware pair weights: with n_max the largest count, a seen pair gets
        min(n_max / n, max_weight), a never-seen pair ``max_weight``; all 1 before any
        update. So equal counts → all 1, lower count → higher weight.

        Returns:
            float32 weights of shape :math:`(C, G)`, in [1, max_weight].
        """
        n = self.counts.to(torch.float32)
        n_max = n.max()
        seen = n > 0
        w = torch.where(seen, n_max / n.clamp_min(1.0), torch.full_like(n, self.max_weight))
        w = w.clamp(max=self.max_weight)
        return torch.where(n_max > 0, w, torch.ones_like(w))
