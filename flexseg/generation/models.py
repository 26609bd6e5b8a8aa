"""Model folders (diffusers format, local only): checks with clear errors, and loading.

``model.base``: a Stable Diffusion 1.5 folder with ``vae/ text_encoder/ tokenizer/
scheduler/ unet/``; ``model.controlnet``: DGInStyle's ControlNet (``config.json`` with
``conditioning_channels: 20`` + weights); ``model.unet`` (optional): a U-Net folder used
instead of ``<base>/unet`` when sampling. Nothing is downloaded (``local_files_only``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from flexseg.generation import require_generate_extra
from flexseg.generation.fusion import CONDITION_CHANNELS

OBTAIN = ("Stable Diffusion 1.5 and DGInStyle's ControlNet as local folders in diffusers format; "
          "see README.md, section 'Generating a DGInStyle-style training set'")
MODEL_WEIGHTS = ("diffusion_pytorch_model*.safetensors", "diffusion_pytorch_model*.bin")
TEXT_WEIGHTS = ("model*.safetensors", "pytorch_model*.bin")


class ModelFolderError(FileNotFoundError):
    """A model folder is missing, incomplete or of the wrong kind; the message names the path."""


def _has(folder: Path, patterns: tuple[str, ...]) -> bool:
    return any(any(folder.glob(p)) for p in patterns)


def _require(folder: Path, what: str, files: list[str], weights: tuple[str, ...] | None) -> None:
    if not folder.is_dir():
        raise ModelFolderError(f"{what}: folder {folder} does not exist (expected {', '.join(files)}"
                               f"{' + weights' if weights else ''}).\nObtain {OBTAIN}.")
    missing = [f for f in files if not (folder / f).is_file()]
    if weights and not _has(folder, weights):
        missing.append(" or ".join(weights))
    if missing:
        raise ModelFolderError(f"{what}: {folder} is incomplete, missing {', '.join(missing)}.\nObtain {OBTAIN}.")


def check_unet_folder(folder: Path, what: str) -> None:
    """A diffusers U-Net folder: config.json + diffusion_pytorch_model weights."""
    _require(folder, what, ["config.json"], MODEL_WEIGHTS)


def check_base_folder(base: Path, need_unet: bool = True) -> None:
    """An SD 1.5 folder in diffusers layout (the U-Net only when no ``model.unet`` replaces it)."""
    if not base.is_dir():
        raise ModelFolderError(f"model.base: folder {base} does not exist (expected the Stable Diffusion 1.5 "
                               f"diffusers folder with vae/ text_encoder/ tokenizer/ scheduler/ unet/).\nObtain {OBTAIN}.")
    _require(base / "vae", "model.base (VAE)", ["config.json"], MODEL_WEIGHTS)
    _require(base / "text_encoder", "model.base (text encoder)", ["config.json"], TEXT_WEIGHTS)
    _require(base / "scheduler", "model.base (scheduler)", ["scheduler_config.json"], None)
    tok = base / "tokenizer"
    if not (tok / "tokenizer.json").is_file():
        _require(tok, "model.base (tokenizer)", ["vocab.json", "merges.txt"], None)
    if need_unet:
        check_unet_folder(base / "unet", "model.base (U-Net)")


def check_controlnet_folder(folder: Path) -> None:
    """DGInStyle's ControlNet: weights + config.json with ``conditioning_channels`` = 20."""
    _require(folder, "model.controlnet", ["config.json"], MODEL_WEIGHTS)
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelFolderError(f"model.controlnet: cannot read {folder / 'config.json'}: {e}") from e
    channels = config.get("conditioning_channels", 3)
    if channels != CONDITION_CHANNELS:
        raise ModelFolderError(
            f"model.controlnet: {folder / 'config.json'} has conditioning_channels={channels}; FlexSeg's generator "
            f"needs DGInStyle's ControlNet conditioned on the {CONDITION_CHANNELS}-channel one-hot of the "
            "Cityscapes train ids (19 classes + ignore), not an RGB/canny/segmentation-colour ControlNet.")


def check_model_folders(base: Path, controlnet: Path, unet: Path | None) -> None:
    """All checks, before anything heavy is loaded."""
    check_base_folder(base, need_unet=unet is None)
    if unet is not None:
        check_unet_folder(unet, "model.unet")
    check_controlnet_folder(controlnet)


@dataclass
class Components:
    """The loaded diffusion components (diffusers / transformers objects) on one device."""

    vae: Any
    text_encoder: Any
    tokenizer: Any
    unet: Any
    controlnet: Any
    scheduler: Any
    device: torch.device
    dtype: torch.dtype


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``fp32`` | ``fp16`` | ``bf16`` (fp16/bf16 only on CUDA; CPU always fp32)."""
    table = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if name not in table:
        raise ValueError(f"precision must be one of {sorted(table)}, got {name!r}")
    return table[name] if device.type == "cuda" else torch.float32


def load_components(base: Path, controlnet: Path, unet: Path | None, device: torch.device,
                    dtype: torch.dtype = torch.float32) -> Components:
    """Load every component from local folders (checked first); the scheduler becomes DDIM."""
    check_model_folders(base, controlnet, unet)
    for module in ("diffusers", "transformers", "safetensors", "scipy"):
        require_generate_extra(module)
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    local = {"local_files_only": True, "torch_dtype": dtype}
    vae = AutoencoderKL.from_pretrained(base / "vae", local_files_only=True, torch_dtype=torch.float32)
    text_encoder = CLIPTextModel.from_pretrained(base / "text_encoder", local_files_only=True, dtype=dtype)
    tokenizer = CLIPTokenizer.from_pretrained(base / "tokenizer", local_files_only=True)
    unet_model = UNet2DConditionModel.from_pretrained(unet if unet is not None else base / "unet", **local)
    cnet = ControlNetModel.from_pretrained(controlnet, **local)
    scheduler = DDIMScheduler.from_config(json.loads((base / "scheduler" / "scheduler_config.json").read_text()))
    if cnet.config.conditioning_channels != CONDITION_CHANNELS:  # pragma: no cover - checked above
        raise ModelFolderError(f"model.controlnet: {controlnet} has {cnet.config.conditioning_channels} conditioning channels")
    # the VAE stays fp32 (as DGInStyle's encode step); the others run in `dtype`
    for m in (vae, text_encoder, unet_model, cnet):
        m.to(device)
    for m in (vae, text_encoder, unet_model, cnet):
        m.eval().requires_grad_(False)
    return Components(vae, text_encoder, tokenizer, unet_model, cnet, scheduler, device, dtype)
