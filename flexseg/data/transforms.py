"""Sample-dict → sample-dict transforms on uint8 tensors (the mmseg pipelines of docs/design.md §2).

Samples carry ``image`` (uint8 [3,H,W]) and ``label`` (int64 [H,W], 255 ignore); every
other key passes through. Sizes follow mmseg: ``resize`` / ``fit`` / ``size`` are
(W, H); ``crop_size`` is (H, W) (square in every recipe).

**Randomness.** Random transforms have ``accepts_generator = True`` and take
``transform(sample, generator=g)``: SegDataModule passes a generator seeded per sample
from (seed, batch position, slot), so augmentations do not depend on worker scheduling
and a resumed run repeats them exactly. Without a call-time generator the transform's own
``generator`` (constructor) is used, and with neither, torch's global RNG (seeded per
DataLoader worker by Lightning's ``seed_everything(workers=True)``). A constructor
generator is meant for tests / ``num_workers=0``: workers would receive identical copies.

**Pipelines.**

- :class:`TrainTransform` (GTA, DAFormer): resize (bilinear image / nearest label;
  mmseg keep-ratio rule, so GTA 1914×1052 with (1280, 720) → 1280×704), random crop that
  avoids crops where one class covers ≥ ``cat_max_ratio`` of the labelled pixels
  (mmseg RandomCrop: re-drawn up to ``crop_tries`` times, the last draw is kept), flip,
  :class:`PhotoMetricDistortion`, pad to the crop size (image 0, label 255).
  Optional rare-class rule (DAFormer RCS): when ``min_class_pixels`` is set and the
  sample has an int ``sampled_class`` key (set by a class-aware sampler), the crop is
  re-drawn up to ``class_tries`` times until it holds more than ``min_class_pixels``
  pixels of that class (DAFormer uses 1,500). A sample may carry its own threshold in
  ``min_class_pixels`` (the rare-class sampler sets min_pixels·min_crop_ratio there,
  :mod:`flexseg.data.rcs`); it wins over the constructor value. Simplification:
  DAFormer re-runs the whole pipeline on the same image; only the crop changes the
  pixel count, so we re-draw only the crop (docs/data_protocol.md).
  Rein family's multi-scale variant (``short_sides`` + ``max_size``): the short side drawn
  uniformly from a list, the long side capped (mmseg ``RandomChoiceResize`` with
  ``ResizeShortestEdge``, :func:`shortest_edge_size`), then the same crop / flip /
  photometric / pad; images smaller than the crop are padded.
- :class:`GeneratedTransform` (DGInStyle 512×512 images): optional resize (HRDA: to the
  1024×1024 crop size, mmseg keep-ratio rule), flip + photometric.

Every training transform has ``output_size(h, w) -> (H, W)``: the size of its output
for an h×w input, which the datamodule uses to refuse, before training, a mix whose
sets cannot be batched together.
- :class:`EvalResize`: resizes ONLY the image (``fit`` + keep-ratio, or an exact
  ``size``); the label keeps its full resolution — the evaluator resizes logits to it.
- :class:`OfflineResize`: what an offline dataset-resizing script writes (image and label
  scaled, the image re-encoded), ``EvalResize(before=...)``; the label stays at the
  scaled size, so the evaluation runs against it (the Rein family's Mapillary files,
  ``conf/data/real_targets_rein.yaml``).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import kornia
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from flexseg.data.labels import IGNORE_INDEX

Sample = dict[str, Any]
Transform = Callable[[Sample], Sample]


# ------------------------------------------------------------------------- helpers
def _pair(value: Any, name: str) -> tuple[int, int] | None:
    """None, an int, or a 2-sequence (also Hydra ListConfig) → None or (a, b) ints."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value), int(value)
    items = list(value)
    if len(items) != 2:
        raise ValueError(f"{name} must have two values, got {items}")
    return int(items[0]), int(items[1])


def _rand(gen: torch.Generator | None) -> float:
    return float(torch.rand((), generator=gen))


def _uniform(low: float, high: float, gen: torch.Generator | None) -> float:
    return low + (high - low) * _rand(gen)


def _randint(low: int, high: int, gen: torch.Generator | None) -> int:
    """Integer in [low, high) (like numpy's randint)."""
    return int(torch.randint(low, high, (1,), generator=gen))


def eval_size(h: int, w: int, fit: Sequence[int], keep_ratio: bool = True) -> tuple[int, int]:
    """(new_h, new_w) of mmseg's ``Resize(img_scale=fit, keep_ratio)`` for an h×w image.

    ``fit`` is (W, H). keep_ratio: scale = min(long_fit / long_side, short_fit / short_side),
    sides rounded half up (mmcv ``rescale_size``): CS 2048×1024 → 1024×512 and BDD
    1280×720 → 910×512 for fit (1024, 512); MV 4:3 → short side 512. Without keep_ratio
    the result is exactly ``fit``.
    """
    fw, fh = int(fit[0]), int(fit[1])
    if not keep_ratio:
        return fh, fw
    long_fit, short_fit = max(fw, fh), min(fw, fh)
    scale = min(long_fit / max(h, w), short_fit / min(h, w))
    return int(h * scale + 0.5), int(w * scale + 0.5)


def shortest_edge_size(h: int, w: int, short_side: int, max_size: int | None = None) -> tuple[int, int]:
    """(new_h, new_w) of mmseg's ``ResizeShortestEdge(scale=short_side, max_size)`` for an
    h×w image: the short side to ``short_side``, the ratio kept, then scaled down so that the
    long side is at most ``max_size``; sides rounded half up, then mmcv's keep-ratio rescale
    to that size (:func:`eval_size`), as ``ResizeShortestEdge`` calls ``Resize``.

    Example:
        >>> shortest_edge_size(1052, 1914, 512, 2048), shortest_edge_size(1052, 1914, 1024, 2048)
        ((512, 932), (1024, 1863))
        >>> shortest_edge_size(1052, 1914, 1200, 2048)   # long side capped at 2048
        (1126, 2048)
    """
    size = float(short_side)
    scale = size / min(h, w)
    new_h, new_w = (size, scale * w) if h < w else (scale * h, size)
    if max_size and max(new_h, new_w) > max_size:
        cap = max_size / max(new_h, new_w)
        new_h, new_w = new_h * cap, new_w * cap
    return eval_size(h, w, (int(new_w + 0.5), int(new_h + 0.5)), keep_ratio=True)


def resize_image(image: torch.Tensor, h: int, w: int, antialias: bool = False) -> torch.Tensor:
    """Bilinear resize of a uint8 [3,H,W] image (no antialias by default, like cv2/mmcv)."""
    if tuple(image.shape[-2:]) == (h, w):
        return image
    return TF.resize(image, [h, w], interpolation=InterpolationMode.BILINEAR, antialias=antialias)


def resize_label(label: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Nearest resize of an [H,W] label of any dtype (index rule of cv2 / torch 'nearest')."""
    H, W = label.shape[-2:]
    if (H, W) == (h, w):
        return label
    rows = (torch.arange(h, dtype=torch.float64) * (H / h)).long().clamp_(max=H - 1)
    cols = (torch.arange(w, dtype=torch.float64) * (W / w)).long().clamp_(max=W - 1)
    return label[..., rows[:, None], cols[None, :]]


def crop_is_balanced(label: torch.Tensor, cat_max_ratio: float, ignore_index: int = IGNORE_INDEX) -> bool:
    """mmseg's test: > 1 labelled class and none covering ≥ ``cat_max_ratio`` of the labelled pixels."""
    values = label.flatten()
    values = values[values != ignore_index]
    if values.numel() == 0:
        return False
    counts = torch.bincount(values)
    counts = counts[counts > 0]
    return counts.numel() > 1 and float(counts.max()) / float(counts.sum()) < cat_max_ratio


def random_crop_box(h: int, w: int, crop_h: int, crop_w: int, gen: torch.Generator | None) -> tuple[int, int]:
    """(top, left) of a uniformly drawn crop (mmseg ``get_crop_bbox``)."""
    return _randint(0, max(h - crop_h, 0) + 1, gen), _randint(0, max(w - crop_w, 0) + 1, gen)


def choose_crop(
    label: torch.Tensor,
    crop_size: tuple[int, int],
    gen: torch.Generator | None = None,
    cat_max_ratio: float = 0.75,
    crop_tries: int = 10,
    sampled_class: int | None = None,
    min_class_pixels: int | None = None,
    class_tries: int = 10,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[int, int]:
    """(top, left) of a crop following mmseg RandomCrop's cat_max_ratio rule and DAFormer's
    rare-class re-draw (see the module docstring)."""
    h, w = label.shape[-2:]
    ch, cw = crop_size

    def crop(box: tuple[int, int]) -> torch.Tensor:
        return label[box[0] : box[0] + ch, box[1] : box[1] + cw]

    def draw() -> tuple[int, int]:
        box = random_crop_box(h, w, ch, cw, gen)
        if cat_max_ratio < 1.0:
            for _ in range(crop_tries):
                if crop_is_balanced(crop(box), cat_max_ratio, ignore_index):
                    break
                box = random_crop_box(h, w, ch, cw, gen)
        return box

    box = draw()
    if sampled_class is not None and min_class_pixels:
        for _ in range(class_tries):
            if int((crop(box) == sampled_class).sum()) > min_class_pixels:
                break
            box = draw()
    return box


def pad_to(image: torch.Tensor, label: torch.Tensor, h: int, w: int,
           ignore_index: int = IGNORE_INDEX) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad bottom/right to at least h×w: image with 0, label with ``ignore_index`` (mmseg Pad)."""
    ph, pw = max(h - image.shape[-2], 0), max(w - image.shape[-1], 0)
    if ph == 0 and pw == 0:
        return image, label
    image = torch.nn.functional.pad(image, (0, pw, 0, ph), value=0)
    label = torch.nn.functional.pad(label, (0, pw, 0, ph), value=ignore_index)
    return image, label


# ------------------------------------------------------------------- photometric
class PhotoMetricDistortion:
    """mmseg's PhotoMetricDistortion on a uint8 [3,H,W] image (label untouched).

    Each with probability 0.5: brightness += U(−32, 32); contrast ×= U(0.5, 1.5) (plain
    scaling, done first or last at random); saturation ×= U(0.5, 1.5) and hue += an
    integer in [−18, 18) (numpy randint: upper bound excluded, as mmseg) on OpenCV's 0..180
    hue scale (in HSV via kornia). Values are
    clipped and truncated to integers after each step like mmseg's uint8 round trips
    (mmcv's uint8 HSV quantisation is not reproduced).
    """

    def __init__(self, brightness_delta: int = 32, contrast_range: Sequence[float] = (0.5, 1.5),
                 saturation_range: Sequence[float] = (0.5, 1.5), hue_delta: int = 18,
                 generator: torch.Generator | None = None) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_range = (float(contrast_range[0]), float(contrast_range[1]))
        self.saturation_range = (float(saturation_range[0]), float(saturation_range[1]))
        self.hue_delta = int(hue_delta)
        self.generator = generator

    accepts_generator = True

    def distort(self, image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The distorted copy of a uint8 [3,H,W] image."""
        gen = generator if generator is not None else self.generator
        x = image.float()

        def contrast(x: torch.Tensor) -> torch.Tensor:
            if _randint(0, 2, gen):
                x = (x * _uniform(*self.contrast_range, gen)).clamp_(0, 255).floor_()
            return x

        if _randint(0, 2, gen):
            x = (x + _uniform(-self.brightness_delta, self.brightness_delta, gen)).clamp_(0, 255).floor_()
        contrast_first = bool(_randint(0, 2, gen))
        if contrast_first:
            x = contrast(x)
        saturation = _uniform(*self.saturation_range, gen) if _randint(0, 2, gen) else None
        hue = ((_randint(-self.hue_delta, self.hue_delta, gen) if self.hue_delta > 0 else 0)
               if _randint(0, 2, gen) else None)
        if saturation is not None or hue is not None:
            hsv = kornia.color.rgb_to_hsv(x / 255.0)
            if saturation is not None:
                hsv[1] = (hsv[1] * saturation).clamp_(0, 1)
            if hue is not None:
                hsv[0] = torch.remainder(hsv[0] + hue * (2 * math.pi / 180.0), 2 * math.pi)
            x = (kornia.color.hsv_to_rgb(hsv) * 255.0).round_().clamp_(0, 255)
        if not contrast_first:
            x = contrast(x)
        return x.to(torch.uint8)

    def __call__(self, sample: Sample, generator: torch.Generator | None = None) -> Sample:
        return {**sample, "image": self.distort(sample["image"], generator)}


def _photometric(value: bool | PhotoMetricDistortion | dict[str, Any] | None,
                 gen: torch.Generator | None) -> PhotoMetricDistortion | None:
    if value is None or value is False:
        return None
    if value is True:
        return PhotoMetricDistortion(generator=gen)
    if isinstance(value, PhotoMetricDistortion):
        return value
    return PhotoMetricDistortion(**dict(value), generator=gen)


def _flip(image: torch.Tensor, label: torch.Tensor, p: float,
          gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    if p > 0 and _rand(gen) < p:
        return TF.horizontal_flip(image), label.flip(-1)
    return image, label


# ------------------------------------------------------------------------- training
class TrainTransform:
    """Source-image training pipeline: resize → crop (cat_max_ratio) → flip → photometric → pad.

    Args:
        resize: (W, H) target (mmseg img_scale) or None. DAFormer (1280, 720); HRDA (2560, 1440).
        scale: optional (min, max) random ratio applied to ``resize`` (mmseg ratio_range).
        keep_ratio: mmseg keep-ratio rule (:func:`eval_size`) or exact ``resize``.
        short_sides: instead of ``resize``, the short side drawn uniformly from this list and
            the long side capped at ``max_size`` (mmseg ``RandomChoiceResize`` of
            ``ResizeShortestEdge``, :func:`shortest_edge_size`). The Rein family: 512·{0.5,
            0.6, …, 2.0} rounded down = 256, 307, …, 1024 with ``max_size`` 2048.
        max_size: cap of the long side with ``short_sides`` (None = none).
        crop_size: (H, W) crop or None. DAFormer (512, 512); HRDA context crop (1024, 1024).
        cat_max_ratio: re-draw crops where one class covers ≥ this share (1.0 = off).
        crop_tries: re-draws for the cat_max_ratio rule (mmseg: 10).
        flip_p: horizontal flip probability.
        photometric: True, False, a dict of :class:`PhotoMetricDistortion` arguments, or one.
        min_class_pixels / class_tries: DAFormer's rare-class crop rule (needs a
            ``sampled_class`` key in the sample; DAFormer 1500 / 10).
        antialias: antialiased downscaling (False = cv2-like, as the reference).
        generator: optional torch.Generator (see the module docstring).
    """

    def __init__(
        self,
        resize: Sequence[int] | None = (1280, 720),
        scale: Sequence[float] | None = None,
        keep_ratio: bool = True,
        crop_size: Sequence[int] | int | None = (512, 512),
        cat_max_ratio: float = 0.75,
        crop_tries: int = 10,
        flip_p: float = 0.5,
        photometric: bool | dict[str, Any] | PhotoMetricDistortion = True,
        min_class_pixels: int | None = None,
        class_tries: int = 10,
        antialias: bool = False,
        ignore_index: int = IGNORE_INDEX,
        generator: torch.Generator | None = None,
        short_sides: Sequence[int] | None = None,
        max_size: int | None = None,
    ) -> None:
        self.resize = _pair(resize, "resize")
        self.short_sides = None if short_sides is None else tuple(int(v) for v in short_sides)
        self.max_size = None if max_size is None else int(max_size)
        if self.short_sides is not None and (self.resize is not None or not self.short_sides):
            raise ValueError("TrainTransform: short_sides (a non-empty list) replaces resize; set resize to null")
        self.scale = None if scale is None else (float(list(scale)[0]), float(list(scale)[1]))
        self.keep_ratio = bool(keep_ratio)
        self.crop_size = _pair(crop_size, "crop_size")
        self.cat_max_ratio = float(cat_max_ratio)
        self.crop_tries = int(crop_tries)
        self.flip_p = float(flip_p)
        self.min_class_pixels = min_class_pixels
        self.class_tries = int(class_tries)
        self.antialias = antialias
        self.ignore_index = ignore_index
        self.generator = generator
        self.photometric = _photometric(photometric, generator)

    accepts_generator = True

    def output_size(self, h: int, w: int) -> tuple[int, int] | None:
        """(H, W) of the output for an h×w input: the crop size when cropping (padded to
        it), else the resized size; None when it is random (``scale`` without a crop)."""
        if self.crop_size is not None:
            return self.crop_size
        if self.short_sides is not None:
            return None if len(self.short_sides) > 1 else shortest_edge_size(h, w, self.short_sides[0], self.max_size)
        if self.resize is None:
            return h, w
        if self.scale is not None:
            return None
        return eval_size(h, w, self.resize, self.keep_ratio)

    def __call__(self, sample: Sample, generator: torch.Generator | None = None) -> Sample:
        gen = generator if generator is not None else self.generator
        image, label = sample["image"], sample["label"]
        if self.resize is not None:
            fit: tuple[float, float] = self.resize
            if self.scale is not None:
                ratio = _uniform(*self.scale, gen)
                fit = (int(fit[0] * ratio), int(fit[1] * ratio))
            h, w = eval_size(image.shape[-2], image.shape[-1], fit, self.keep_ratio)  # type: ignore[arg-type]
            image = resize_image(image, h, w, self.antialias)
            label = resize_label(label, h, w)
        elif self.short_sides is not None:
            side = self.short_sides[_randint(0, len(self.short_sides), gen)]
            h, w = shortest_edge_size(image.shape[-2], image.shape[-1], side, self.max_size)
            image = resize_image(image, h, w, self.antialias)
            label = resize_label(label, h, w)
        if self.crop_size is not None:
            ch, cw = self.crop_size
            sampled = sample.get("sampled_class")
            min_pixels = sample.get("min_class_pixels", self.min_class_pixels)
            top, left = choose_crop(
                label, (ch, cw), gen, self.cat_max_ratio, self.crop_tries,
                None if sampled is None else int(sampled), min_pixels, self.class_tries,
                self.ignore_index,
            )
            image = image[:, top : top + ch, left : left + cw]
            label = label[top : top + ch, left : left + cw]
        image, label = _flip(image, label, self.flip_p, gen)
        if self.photometric is not None:
            image = self.photometric.distort(image, gen)
        if self.crop_size is not None:
            image, label = pad_to(image, label, *self.crop_size, ignore_index=self.ignore_index)
        return {**sample, "image": image.contiguous(), "label": label.contiguous()}


class GeneratedTransform:
    """Generated-image pipeline (DGInStyle): [resize] → flip → photometric distortion, no crop.

    Args:
        flip_p: horizontal flip probability.
        photometric: as :class:`TrainTransform`.
        resize: (W, H) or None. DAFormer setting None (512×512 images kept); HRDA setting
            (1024, 1024) = the context crop size (the reference's ``Resize(img_scale=crop)``,
            keep-ratio rule of :func:`eval_size`: a 512×512 image becomes 1024×1024).
        keep_ratio: mmseg keep-ratio rule (True, mmseg's default) or exactly ``resize``.
        antialias: antialiased downscaling (False = cv2-like, as the reference).
        generator: optional torch.Generator (see the module docstring).
    """

    def __init__(self, flip_p: float = 0.5,
                 photometric: bool | dict[str, Any] | PhotoMetricDistortion = True,
                 resize: Sequence[int] | None = None, keep_ratio: bool = True, antialias: bool = False,
                 generator: torch.Generator | None = None) -> None:
        self.flip_p = float(flip_p)
        self.resize = _pair(resize, "resize")
        self.keep_ratio = bool(keep_ratio)
        self.antialias = antialias
        self.generator = generator
        self.photometric = _photometric(photometric, generator)

    accepts_generator = True

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """(H, W) of the output for an h×w input."""
        return (h, w) if self.resize is None else eval_size(h, w, self.resize, self.keep_ratio)

    def __call__(self, sample: Sample, generator: torch.Generator | None = None) -> Sample:
        gen = generator if generator is not None else self.generator
        image, label = sample["image"], sample["label"]
        if self.resize is not None:
            h, w = self.output_size(image.shape[-2], image.shape[-1])
            image, label = resize_image(image, h, w, self.antialias), resize_label(label, h, w)
        image, label = _flip(image, label, self.flip_p, gen)
        if self.photometric is not None:
            image = self.photometric.distort(image, gen)
        return {**sample, "image": image.contiguous(), "label": label.contiguous()}


# ---------------------------------------------------------------------- evaluation
class EvalResize:
    """Resize only the image for testing; the label stays at full resolution.

    ``EvalResize(fit=(1024, 512))`` keeps the ratio (mmseg rule, :func:`eval_size`);
    ``EvalResize(size=(960, 540))`` resizes to exactly (W, H); ``EvalResize()`` is the
    identity (native resolution). ``before``: a transform applied first, e.g. an
    :class:`OfflineResize` (files a dataset script resized, labels included).
    """

    def __init__(self, fit: Sequence[int] | None = None, size: Sequence[int] | None = None,
                 keep_ratio: bool = True, antialias: bool = False, before: Transform | None = None) -> None:
        self.fit = _pair(fit, "fit")
        self.size = _pair(size, "size")
        if self.fit is not None and self.size is not None:
            raise ValueError("EvalResize: give fit or size, not both")
        self.keep_ratio = bool(keep_ratio)
        self.antialias = antialias
        self.before = before

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        """(new_h, new_w) for an h×w image."""
        if self.size is not None:
            return self.size[1], self.size[0]
        if self.fit is not None:
            return eval_size(h, w, self.fit, self.keep_ratio)
        return h, w

    def __call__(self, sample: Sample) -> Sample:
        if self.before is not None:
            sample = self.before(sample)
        image = sample["image"]
        h, w = self.target_size(image.shape[-2], image.shape[-1])
        return {**sample, "image": resize_image(image, h, w, self.antialias)}

    def __repr__(self) -> str:
        before = f", before={self.before!r}" if self.before is not None else ""
        return f"EvalResize(fit={self.fit}, size={self.size}, keep_ratio={self.keep_ratio}{before})"


class OfflineResize:
    """What an offline resizing script writes, applied at load time: image and label scaled
    to (⌊W·scale⌋, ⌊H·scale⌋) with PIL — the image with ``image_resample`` and, when
    ``jpeg_quality`` is set, re-encoded as a JPEG of that quality (75 = what PIL's plain
    ``Image.save("x.jpg")`` writes), the label nearest. Unlike :class:`EvalResize` the label
    stays at the new size, so predictions are scored against it.

    The Rein family's Mapillary validation files (w1oves/Rein
    ``tools/convert_datasets/mapillary_resize.py``: ``(w // 2, h // 2)``, image bicubic saved
    as .jpg, label nearest) are ``OfflineResize(0.5)``; the test pipeline's resize follows
    (``EvalResize(fit=(1024, 512), before=OfflineResize(0.5))``,
    ``conf/data/real_targets_rein.yaml``).

    Example:
        >>> sample = {"image": torch.zeros(3, 1201, 1600, dtype=torch.uint8), "label": torch.zeros(1201, 1600, dtype=torch.long)}
        >>> out = OfflineResize(0.5)(sample)
        >>> tuple(out["image"].shape), tuple(out["label"].shape), out["label"].dtype
        ((3, 600, 800), (600, 800), torch.int64)
    """

    RESAMPLE = ("nearest", "bilinear", "bicubic", "lanczos")

    def __init__(self, scale: float = 0.5, image_resample: str = "bicubic", jpeg_quality: int | None = 75) -> None:
        if not 0.0 < float(scale):
            raise ValueError(f"OfflineResize: scale must be > 0, got {scale}")
        if image_resample not in self.RESAMPLE:
            raise ValueError(f"OfflineResize: image_resample must be one of {self.RESAMPLE}, got {image_resample!r}")
        self.scale = float(scale)
        self.image_resample = image_resample
        self.jpeg_quality = None if jpeg_quality is None else int(jpeg_quality)

    def __call__(self, sample: Sample) -> Sample:
        import io

        import numpy as np
        from PIL import Image

        image, label = sample["image"], sample["label"]
        h, w = image.shape[-2:]
        size = (int(w * self.scale), int(h * self.scale))  # PIL (W, H)
        resample = getattr(Image.Resampling, self.image_resample.upper())
        pil = Image.fromarray(image.permute(1, 2, 0).contiguous().numpy()).resize(size, resample=resample)
        if self.jpeg_quality is not None:
            buffer = io.BytesIO()
            pil.save(buffer, format="JPEG", quality=self.jpeg_quality)
            buffer.seek(0)
            with Image.open(buffer) as reread:
                pil = reread.convert("RGB")
        out = {**sample, "image": torch.from_numpy(np.array(pil)).permute(2, 0, 1).contiguous()}
        if label is not None:
            small = Image.fromarray(label.numpy().astype(np.uint8)).resize(size, resample=Image.Resampling.NEAREST)
            out["label"] = torch.from_numpy(np.array(small)).to(label.dtype)
        return out

    def __repr__(self) -> str:
        return f"OfflineResize(scale={self.scale}, image_resample={self.image_resample!r}, jpeg_quality={self.jpeg_quality})"


class Compose:
    """Apply transforms in order (passing a call-time generator to those that accept one)."""

    accepts_generator = True

    def __init__(self, transforms: Iterable[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample, generator: torch.Generator | None = None) -> Sample:
        for t in self.transforms:
            if generator is not None and getattr(t, "accepts_generator", False):
                sample = t(sample, generator=generator)
            else:
                sample = t(sample)
        return sample

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"
