"""Two-pass DDIM + ControlNet sampling of one image from a label crop (DGInStyle's recipe).

Pass 1: classifier-free-guided DDIM at the crop resolution (one window = the standard
ControlNet sampling loop of diffusers' ``StableDiffusionControlNetPipeline``).
Pass 2 (``fusion.enabled``): the pass-1 image is upsampled ×``scale`` (Lanczos) and
re-encoded; a fresh DDIM run on the ×``scale`` latent grid denoises overlapping windows
of the crop's latent size (MultiDiffusion: the noise predictions of the windows are
averaged per latent, which for DDIM with η = 0 equals averaging the windows' denoised
latents as MultiDiffusion does); after every step the latents inside large connected
components are replaced by the re-encoded pass-1 latents noised to the next timestep.
The result is decoded and resized back to the crop resolution (Lanczos).
See ``docs/generation.md`` for where this differs from DGInStyle's code.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from flexseg.generation.fusion import large_components_mask, one_hot_condition, window_views
from flexseg.generation.models import Components


@dataclass(frozen=True)
class SamplerConfig:
    """Sampling knobs (defaults = DGInStyle's dataset generation script)."""

    steps: int = 20
    guidance: float = 7.5
    fusion: bool = True
    scale: int = 2                 # latent upsampling of pass 2
    stride: int = 8                # window stride in latents (window = crop latent size)
    min_component_area: int = 20000  # pixels at the crop resolution
    view_batch: int = 4            # windows per U-Net call


@torch.no_grad()
def encode_prompt(comp: Components, prompt: str) -> torch.Tensor:
    """[2, L, D] text embeddings: (empty prompt, prompt) for classifier-free guidance."""
    tok = comp.tokenizer
    ids = tok(["", prompt], padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids.to(comp.device)
    return comp.text_encoder(ids)[0].to(comp.dtype)


def _noise(shape: tuple[int, ...], generator: torch.Generator, comp: Components) -> torch.Tensor:
    """Standard normal noise drawn on the CPU (device-independent), moved to the device (fp32)."""
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(comp.device)


@torch.no_grad()
def denoise(comp: Components, embeds: torch.Tensor, cond: torch.Tensor, latent_hw: tuple[int, int],
            window: int, cfg: SamplerConfig, generator: torch.Generator,
            keep: tuple[torch.Tensor, torch.Tensor] | None = None,
            on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """DDIM from pure noise on a [1,4,h,w] latent grid; returns fp32 latents.

    ``cond``: [1,20,8h,8w] one-hot condition; ``window`` latents per side (= h = w: one
    view); ``keep`` = (clean latents [1,4,h,w], mask [1,1,h,w]) re-imposed after each step.
    """
    sched = comp.scheduler
    sched.set_timesteps(cfg.steps, device=comp.device)
    h, w = latent_hw
    channels = comp.unet.config.in_channels
    latents = _noise((1, channels, h, w), generator, comp) * sched.init_noise_sigma
    views = window_views(h, w, window, cfg.stride)
    guided = cfg.guidance > 1.0
    uncond, text = embeds[:1], embeds[1:]
    cond = cond.to(comp.device, comp.dtype)
    timesteps = list(sched.timesteps)
    for i, t in enumerate(timesteps):
        eps_sum = torch.zeros_like(latents)
        count = torch.zeros_like(latents)
        for b in range(0, len(views), max(1, cfg.view_batch)):
            batch = views[b:b + max(1, cfg.view_batch)]
            x = torch.cat([latents[:, :, y0:y1, x0:x1] for y0, y1, x0, x1 in batch])
            c = torch.cat([cond[:, :, 8 * y0:8 * y1, 8 * x0:8 * x1] for y0, y1, x0, x1 in batch])
            n = len(batch)
            if guided:
                x, c = torch.cat([x, x]), torch.cat([c, c])
                emb = torch.cat([uncond.expand(n, -1, -1), text.expand(n, -1, -1)])
            else:
                emb = text.expand(n, -1, -1)
            x_in = sched.scale_model_input(x, t).to(comp.dtype)
            down, mid = comp.controlnet(x_in, t, encoder_hidden_states=emb, controlnet_cond=c,
                                        conditioning_scale=1.0, return_dict=False)
            eps = comp.unet(x_in, t, encoder_hidden_states=emb, down_block_additional_residuals=down,
                            mid_block_additional_residual=mid, return_dict=False)[0].float()
            if guided:
                e_u, e_t = eps.chunk(2)
                eps = e_u + cfg.guidance * (e_t - e_u)
            for k, (y0, y1, x0, x1) in enumerate(batch):
                eps_sum[:, :, y0:y1, x0:x1] += eps[k:k + 1]
                count[:, :, y0:y1, x0:x1] += 1
        latents = sched.step(eps_sum / count, t, latents, eta=0.0, return_dict=False)[0]
        if keep is not None:
            clean, mask = keep
            if i + 1 < len(timesteps):
                noise = _noise(tuple(clean.shape), generator, comp)
                target = sched.add_noise(clean, noise, timesteps[i + 1].reshape(1))
            else:
                target = clean
            latents = mask * target + (1 - mask) * latents
        if on_step is not None:
            on_step()
    return latents


@torch.no_grad()
def decode(comp: Components, latents: torch.Tensor) -> np.ndarray:
    """uint8 [H,W,3] RGB image from [1,4,h,w] latents."""
    vae = comp.vae
    x = vae.decode(latents.float() / vae.config.scaling_factor, return_dict=False)[0]
    x = (x / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
    return (x * 255).round().astype(np.uint8)


@torch.no_grad()
def encode(comp: Components, image: np.ndarray, generator: torch.Generator) -> torch.Tensor:
    """[1,4,h,w] scaled latents of a uint8 [H,W,3] image (a posterior sample, CPU-drawn noise)."""
    vae = comp.vae
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().div(127.5).sub(1.0).to(comp.device)
    dist = vae.encode(x).latent_dist
    z = dist.mean + dist.std * _noise(tuple(dist.mean.shape), generator, comp)
    return z * vae.config.scaling_factor


def resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """Lanczos resize of a uint8 [H,W,3] image to size×size."""
    return np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))


@torch.no_grad()
def generate_image(comp: Components, label: np.ndarray, prompt: str, seed: int, cfg: SamplerConfig,
                   on_step: Callable[[], None] | None = None) -> np.ndarray:
    """uint8 [S,S,3] image for an [S,S] train-id crop (S divisible by 8)."""
    size = label.shape[0]
    if label.shape != (size, size) or size % 8:
        raise ValueError(f"label crop must be square with a side divisible by 8, got {label.shape}")
    generator = torch.Generator().manual_seed(int(seed))
    embeds = encode_prompt(comp, prompt)
    cond = one_hot_condition(label)
    lat = size // 8
    latents = denoise(comp, embeds, cond, (lat, lat), lat, cfg, generator, on_step=on_step)
    image = decode(comp, latents)
    if not cfg.fusion:
        return image
    big = size * cfg.scale
    clean = encode(comp, resize_rgb(image, big), generator)
    mask = torch.from_numpy(large_components_mask(label, cfg.min_component_area)).float()[None, None]
    mask = F.interpolate(mask, size=(lat * cfg.scale, lat * cfg.scale), mode="nearest").to(comp.device)
    cond_big = F.interpolate(cond, scale_factor=cfg.scale, mode="nearest")
    latents = denoise(comp, embeds, cond_big, (lat * cfg.scale, lat * cfg.scale), lat, cfg, generator,
                      keep=(clean, mask), on_step=on_step)
    return resize_rgb(decode(comp, latents), size)
