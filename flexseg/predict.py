"""Segment a folder of images: ``python -m flexseg.predict ckpt_path=CKPT input=DIR output=DIR``.

For every ``.png``/``.jpg``/``.jpeg`` image of ``input`` (any size; sub-folders with
``recursive=true``, mirrored under ``output``) writes ``<name>_mask.png`` (the class
file's colours, default Cityscapes), ``<name>_overlay.png`` (image blended with the mask, ``alpha``) and, with
``write_trainid=true``, ``<name>_trainid.png`` (uint8 train ids). The network is
the one of the model config (``model=...`` or ``+experiment=...``, as for training);
``ckpt_path`` is a FlexSeg Lightning checkpoint or a published mmseg DAFormer/HRDA one.
``format=cityscapes|acdc|dark_zurich`` writes benchmark submission files instead
(label-id PNGs named as the test servers expect, :mod:`flexseg.submission`). Images are
turned upright by their EXIF orientation first (phone and camera JPEGs).
``fit=[W,H]`` resizes each image to fit W×H (aspect kept) before inference, as the
reference test protocol does; logits are resized back to the image size.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from PIL import Image, ImageOps, UnidentifiedImageError

from flexseg.data.labels import PALETTE, colorize
from flexseg.submission import FORMAT_NAMES, submission_stem, to_label_ids
from flexseg.utils.ckpt_config import apply_checkpoint_config
from flexseg.utils.conf_dir import CONFIG_PATH
from flexseg.utils.extras import apply_extras

log = logging.getLogger(__name__)

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")
OUTPUT_SUFFIXES: tuple[str, ...] = ("_mask", "_overlay", "_trainid")


class PredictError(ValueError):
    """Bad input for prediction (missing folder, no image, unreadable file)."""


def find_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Sorted image files of ``folder`` (skipping our own ``*_mask/_overlay/_trainid``
    outputs). Raises :class:`PredictError` if the folder is missing or holds no image."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PredictError(f"input folder {folder} does not exist (input=DIR)")
    pattern = "**/*" if recursive else "*"
    files = sorted(
        p for p in folder.glob(pattern)
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith(OUTPUT_SUFFIXES)
    )
    if not files:
        where = "or its sub-folders " if recursive else ""
        hint = "" if recursive else " (recursive=true searches sub-folders)"
        raise PredictError(f"no {'/'.join(IMAGE_SUFFIXES)} image in {folder} {where}{hint}".rstrip())
    return files


def read_rgb(path: str | Path) -> np.ndarray:
    """[H,W,3] uint8 RGB, upright (EXIF orientation applied, as image viewers show it);
    :class:`PredictError` naming the file if it cannot be decoded."""
    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise PredictError(f"cannot read image {path}: {err}") from err


def fit_size(height: int, width: int, fit: Sequence[int] | None) -> tuple[int, int]:
    """(h, w) resized to fit ``fit`` = (W, H) keeping the aspect ratio (mmseg ``keep_ratio``
    rescale: the long side ≤ max(W,H), the short side ≤ min(W,H)); unchanged for ``None``."""
    if not fit:
        return height, width
    long_edge, short_edge = max(fit), min(fit)
    scale = min(long_edge / max(height, width), short_edge / min(height, width))
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


@torch.no_grad()
def predict_image(module: torch.nn.Module, image: np.ndarray, fit: Sequence[int] | None = None) -> np.ndarray:
    """Train ids [H,W] (uint8) of ``image`` [H,W,3] uint8 via ``module(images)`` (the
    SegModule inference path: ImageNet normalization + ``net.inference``)."""
    device = next(module.parameters()).device
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].to(device)
    h, w = image.shape[:2]
    size = fit_size(h, w, fit)
    if size != (h, w):
        x = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False)
    logits = module(x)
    if tuple(logits.shape[-2:]) != (h, w):
        logits = F.interpolate(logits.float(), size=(h, w), mode="bilinear", align_corners=False)
    return logits.argmax(1)[0].to(torch.uint8).cpu().numpy()


def overlay(image: np.ndarray, mask_rgb: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """(1 − alpha)·image + alpha·mask, both [H,W,3] uint8 → uint8."""
    blend = (1.0 - alpha) * image.astype(np.float32) + alpha * mask_rgb.astype(np.float32)
    return blend.round().clip(0, 255).astype(np.uint8)


def write_outputs(out_base: Path, image: np.ndarray, trainid: np.ndarray, alpha: float, write_trainid: bool,
                  colors: Sequence[Sequence[int]] = PALETTE) -> list[Path]:
    """Write ``<out_base>_mask.png`` (``colors`` per train id), ``_overlay.png`` (and
    ``_trainid.png``); returns the paths."""
    out_base.parent.mkdir(parents=True, exist_ok=True)
    mask = colorize(trainid, colors)
    paths = [out_base.with_name(out_base.name + "_mask.png"), out_base.with_name(out_base.name + "_overlay.png")]
    Image.fromarray(mask).save(paths[0])
    Image.fromarray(overlay(image, mask, alpha)).save(paths[1])
    if write_trainid:
        paths.append(out_base.with_name(out_base.name + "_trainid.png"))
        Image.fromarray(trainid).save(paths[-1])
    return paths


def write_submission(out_dir: Path, rel: Path, trainid: np.ndarray, fmt: str) -> Path:
    """Write the label-id PNG of ``fmt`` for the input at ``rel`` (relative path, with
    suffix) under ``out_dir``, mirroring its folders; returns the path."""
    try:
        stem = submission_stem(rel.stem, fmt)
    except ValueError as err:
        raise PredictError(str(err)) from err
    path = out_dir / rel.parent / f"{stem}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_label_ids(trainid)).save(path)
    return path


def build_predictor(cfg: DictConfig, device: str | torch.device = "cpu") -> torch.nn.Module:
    """SegModule from the model config with the weights of ``cfg.ckpt_path``, in eval mode
    (``model.pretrained`` is read only for a compact checkpoint, whose frozen backbone
    comes from that file: :func:`flexseg.checkpoint.build_module_from_checkpoint`)."""
    from flexseg.checkpoint import build_module_from_checkpoint

    return build_module_from_checkpoint(cfg).to(device).eval()


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda when available, else cpu; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def predict(cfg: DictConfig) -> list[Path]:
    """Run prediction as configured (``conf/predict.yaml``); returns the written files."""
    from rich.progress import track

    ckpt = Path(str(cfg.ckpt_path))
    if not ckpt.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt} does not exist")
    in_dir, out_dir = Path(str(cfg.input)), Path(str(cfg.output))
    files = find_images(in_dir, bool(cfg.get("recursive", False)))
    module = build_predictor(cfg, resolve_device(str(cfg.get("device", "auto"))))
    fit = list(cfg.fit) if cfg.get("fit") else None
    fmt = str(cfg.get("format") or "default")
    if fmt not in FORMAT_NAMES:
        raise PredictError(f"format={fmt} is not one of {', '.join(FORMAT_NAMES)}")
    if fmt != "default":  # check every name before the (long) inference
        bad = [p for p in files if not _fits(p, fmt)]
        if bad:
            raise PredictError(f"{len(bad)} of {len(files)} images do not have the file names format={fmt} "
                               f"expects, e.g. {bad[0]}: {_why(bad[0], fmt)}")
    from flexseg.build import class_set

    colors = class_set(cfg).colors  # the checkpoint's classes (data=custom: its class file)
    written: list[Path] = []
    for path in track(files, description=f"segmenting {len(files)} images", disable=not cfg.get("progress", True)):
        image = read_rgb(path)
        trainid = predict_image(module, image, fit)
        if fmt != "default":
            written.append(write_submission(out_dir, path.relative_to(in_dir), trainid, fmt))
            continue
        rel = path.relative_to(in_dir).with_suffix("")
        written += write_outputs(out_dir / rel, image, trainid, float(cfg.alpha), bool(cfg.write_trainid), colors)
    log.info("wrote %d files for %d images to %s", len(written), len(files), out_dir)
    return written


def _fits(path: Path, fmt: str) -> bool:
    try:
        submission_stem(path.stem, fmt)
    except ValueError:
        return False
    return True


def _why(path: Path, fmt: str) -> str:
    try:
        submission_stem(path.stem, fmt)
    except ValueError as err:
        return str(err)
    return "ok"


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="predict")
def main(cfg: DictConfig) -> None:
    apply_checkpoint_config(cfg, groups=("data", "model"))  # the network and classes it was trained with
    apply_extras(cfg)
    predict(cfg)


if __name__ == "__main__":
    from flexseg.utils.entry import run

    run(main)
