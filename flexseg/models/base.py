"""The network contract: what :class:`~flexseg.module.SegModule`, ``bench``, ``eval`` and
``predict`` use of a segmentation network, in code.

* :class:`SegNetwork` — a ``runtime_checkable`` :class:`~typing.Protocol`: any
  ``nn.Module`` with these members can be trained and evaluated (no inheritance needed).
* :class:`SegOutput` — the training output dict (a ``TypedDict``: a plain dict at runtime).
* :class:`SupportsRegularizers` — the extra members read when a network's output holds
  the feature-distance (``fd``) or SHADE (``hallucinated``) entries.
* :class:`SegNetworkBase` — a thin ``nn.Module`` base that DAFormer and HRDA share: the
  whole-image / sliding-window ``inference``, ``head_parameters`` and the encoder set-up.
  It registers nothing, so subclasses keep their state-dict keys and init order.
* :func:`check_output` — checks an output dict against the contract (shapes included).

Why both a protocol and a base class: the protocol is what the training code relies on
and what a new network must offer; the base class only removes code the two networks
repeated. docs/models.md
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Protocol, Sequence, TypedDict, runtime_checkable

import torch
from torch import nn

from flexseg.models.layers.slide import slide_inference

__all__ = ["AuxOutput", "FDOutput", "SegNetwork", "SegNetworkBase", "SegOutput", "SupportsPretrainedBackbone", "SupportsRegularizers",
           "check_output"]

Box = tuple[int, int, int, int]  # (y0, x0, y1, x1) in input pixels


class AuxOutput(TypedDict):
    """An extra supervised prediction (HRDA's HR crop; the LR view when its weight > 0)."""

    logits: torch.Tensor  #: [B,K,h,w]
    box: Box | None  #: labels are cropped to this box (input pixels); None = whole input
    weight: float  #: weight of its loss term


class FDOutput(TypedDict):
    """Feature-distance inputs: last encoder stage of the trained and the frozen encoder."""

    features: torch.Tensor  #: [B,C,h,w] (2B with SHADE)
    imnet_features: torch.Tensor  #: same shape, no gradient


class _SegOutputRequired(TypedDict):
    logits: torch.Tensor
    features: torch.Tensor


class SegOutput(_SegOutputRequired, total=False):
    """Training output of a network (``forward``), for an input [B,3,H,W]:

    ============== ======================================================================
    ``logits``     [B,K,⌈H/4⌉,⌈W/4⌉] logits on the 1/4 grid of the input (required)
    ``features``   [B,D,h,w] decoder features for GAP, D = ``feature_dim`` (required);
                   the 1/4 grid of the input, or of ``features_box`` when given
    features_box   (y0, x0, y1, x1) input pixels the features cover (HRDA's detail crop)
    logits_weight  weight of the ``logits`` loss term (default 1; HRDA 0.9)
    aux            list of :class:`AuxOutput`, further weighted loss terms
    fd             :class:`FDOutput` (feature distance on, training mode)
    hallucinated   True when SHADE doubled the batch: every tensor holds 2B images
                   [originals; hallucinated]
    ============== ======================================================================
    """

    features_box: Box
    logits_weight: float
    aux: list[AuxOutput]
    fd: FDOutput
    hallucinated: bool


@runtime_checkable
class SegNetwork(Protocol):
    """What the training and evaluation code uses of a segmentation network.

    Images are ImageNet-normalized float [B,3,H,W]. ``num_classes`` = K,
    ``feature_dim`` = D, the channels of ``forward(images)["features"]``.
    ``isinstance(net, SegNetwork)`` checks that the members exist (not their types).

    Example:
        >>> class Tiny(nn.Module):
        ...     num_classes, feature_dim = 2, 4
        ...     def forward(self, images): ...
        ...     def inference(self, images): ...
        ...     def head_parameters(self): return []
        >>> isinstance(Tiny(), SegNetwork), isinstance(nn.Conv2d(3, 2, 1), SegNetwork)
        (True, False)
    """

    num_classes: int
    feature_dim: int

    def forward(self, images: torch.Tensor) -> SegOutput:
        """Training output (:class:`SegOutput`) for images [B,3,H,W]."""
        ...

    def inference(self, images: torch.Tensor) -> torch.Tensor:
        """Logits [B,K,H,W] at the input resolution (eval mode, no gradient)."""
        ...

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters trained with the head learning rate (×10)."""
        ...


@runtime_checkable
class SupportsRegularizers(Protocol):
    """Members read when the output holds ``fd`` / the backbone has SHADE
    (:mod:`flexseg.models.regularizers`): the option dicts, the seed of SHADE's base-style
    sampling and the stage-1 map the base styles are computed from. SHADE itself is found
    as ``net.backbone.style_hallucination`` (absent or None = off)."""

    fd_cfg: dict[str, Any]
    shade_cfg: dict[str, Any]
    seed: int

    def style_features(self, images: torch.Tensor) -> torch.Tensor:
        """Stage-1 encoder map [B,C_1,h,w] of the training view."""
        ...


class SegNetworkBase(nn.Module):
    """Shared part of DAFormer and HRDA: an encoder ``backbone``, a ``decode_head`` holding
    every head parameter, and test-time inference by whole image or sliding windows.

    A subclass sets ``num_classes``, ``feature_dim``, ``slide_window`` / ``slide_stride``
    ((h, w) or None), ``backbone`` and ``decode_head``, and implements ``forward`` and
    ``whole_inference`` (images [B,3,H,W] → logits [B,K,H,W]). The base registers no
    module, parameter or buffer.

    Example:
        >>> class Tiny(SegNetworkBase):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.num_classes, self.feature_dim = 2, 2
        ...         self.slide_window, self.slide_stride = (4, 4), (2, 2)
        ...         self.decode_head = nn.Conv2d(3, 2, 1)
        ...     def forward(self, images):
        ...         return {"logits": self.decode_head(images), "features": self.decode_head(images)}
        ...     def whole_inference(self, images):
        ...         return self.decode_head(images)
        >>> net = Tiny().eval()
        >>> x = torch.randn(1, 3, 6, 6)
        >>> torch.allclose(net.inference(x), net.whole_inference(x), atol=1e-6)  # per-pixel head
        True
        >>> isinstance(net, SegNetwork), len(net.head_parameters())
        (True, 2)
    """

    num_classes: int
    feature_dim: int
    slide_window: tuple[int, int] | None
    slide_stride: tuple[int, int] | None

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters trained with the ×10 head learning rate: all of ``decode_head``."""
        return list(self.decode_head.parameters())

    def whole_inference(self, images: torch.Tensor) -> torch.Tensor:
        """One pass over the whole input → logits [B,K,H,W] (subclasses)."""
        raise NotImplementedError

    @torch.no_grad()
    def inference(self, images: torch.Tensor) -> torch.Tensor:
        """Logits [B,K,H,W] at the input resolution (call in eval mode): ``whole_inference``,
        or its average over ``slide_window`` windows with ``slide_stride``
        (:func:`~flexseg.models.layers.slide.slide_inference`) when a window is set."""
        if self.slide_window is None:
            return self.whole_inference(images)
        return slide_inference(self.whole_inference, images, self.slide_window, self.slide_stride, self.num_classes)

    def setup_encoder(
        self,
        pretrained: str | None,
        shade: Mapping[str, Any] | None,
        feature_distance: Mapping[str, Any] | None,
        seed: int,
    ) -> None:
        """Load SegFormer ImageNet weights into ``backbone`` (when ``pretrained``), then
        attach the regularizers (:func:`~flexseg.models.regularizers.attach_regularizers`;
        the frozen feature-distance copy is taken after loading). Draws no random number."""
        if pretrained:
            from flexseg.models.weights import load_pretrained_encoder

            load_pretrained_encoder(self.backbone, pretrained)
        from flexseg.models.regularizers import attach_regularizers

        attach_regularizers(self, pretrained, shade, feature_distance, seed)


def _grid(h: int, w: int) -> tuple[int, int]:
    return math.ceil(h / 4), math.ceil(w / 4)


def check_output(out: Mapping[str, Any], images: torch.Tensor, num_classes: int, feature_dim: int) -> None:
    """Check a network's training output against :class:`SegOutput`.

    Args:
        out: ``net(images)``.
        images: the input [B,3,H,W].
        num_classes: K.
        feature_dim: D (the network's ``feature_dim``).

    Raises:
        ValueError: listing every violation (missing keys, wrong shapes or types).

    Example:
        >>> x = torch.zeros(2, 3, 32, 40)
        >>> check_output({"logits": torch.zeros(2, 5, 8, 10), "features": torch.zeros(2, 4, 8, 10)}, x, 5, 4)
        >>> check_output({"logits": torch.zeros(2, 5, 8, 10), "features": torch.zeros(2, 3, 8, 10)}, x, 5, 4)
        Traceback (most recent call last):
        ...
        ValueError: output does not follow the contract: features: [2, 3, 8, 10], expected [2, 4, 8, 10]
    """
    problems: list[str] = []
    b, _, h, w = images.shape
    if out.get("hallucinated", False):
        b *= 2

    def expect(name: str, value: Any, shape: Sequence[int | None]) -> None:
        if not torch.is_tensor(value):
            problems.append(f"{name}: a tensor expected, got {type(value).__name__}")
        elif value.ndim != len(shape) or any(s is not None and s != v for s, v in zip(shape, value.shape)):
            problems.append(f"{name}: {list(value.shape)}, expected {['*' if s is None else s for s in shape]}")

    for key in ("logits", "features"):
        if key not in out:
            problems.append(f"missing key {key!r}")
    if "logits" in out:
        expect("logits", out["logits"], (b, num_classes, *_grid(h, w)))
    box: Box | None = out.get("features_box")
    if box is not None:
        y0, x0, y1, x1 = box
        if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
            problems.append(f"features_box {tuple(box)} is not inside {h}×{w}")
    if "features" in out:
        expect("features", out["features"], (b, feature_dim, *_grid(*((box[2] - box[0], box[3] - box[1]) if box else (h, w)))))
    if not isinstance(out.get("logits_weight", 1.0), (int, float)):
        problems.append("logits_weight: a number expected")
    for k, aux in enumerate(out.get("aux", []) or []):
        abox = aux.get("box")
        grid: tuple[int | None, int | None] = _grid(abox[2] - abox[0], abox[3] - abox[1]) if abox else (None, None)
        expect(f"aux[{k}].logits", aux.get("logits"), (b, num_classes, *grid))
        if not isinstance(aux.get("weight"), (int, float)):
            problems.append(f"aux[{k}].weight: a number expected")
    fd: Mapping[str, Any] | None = out.get("fd")
    if fd is not None:
        feats = fd.get("features")
        expect("fd.features", feats, (b, None, None, None))
        if torch.is_tensor(feats):
            expect("fd.imnet_features", fd.get("imnet_features"), tuple(feats.shape))
    if problems:
        raise ValueError("output does not follow the contract: " + "; ".join(problems))


@runtime_checkable
class SupportsPretrainedBackbone(Protocol):
    """Optional members of networks with a large pretrained backbone (``model=vfm``,
    :mod:`flexseg.models.vfm`), read by :class:`~flexseg.module.SegModule` when present:
    per-parameter lr multipliers (layer-wise decay) and compact checkpoints that leave the
    frozen weights of a local file out."""

    def lr_scales(self) -> dict[str, float]:
        """lr multiplier per ``named_parameters()`` name (empty = all 1)."""
        ...

    def backbone_file(self) -> dict[str, str] | None:
        """``{"path", "sha256"}`` of the file the excluded weights come from, or None."""
        ...

    def checkpoint_excluded_keys(self) -> list[str]:
        """``state_dict`` keys a checkpoint does not store (rebuilt from ``backbone_file``)."""
        ...
