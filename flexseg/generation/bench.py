"""Generation throughput with randomly initialized full-size components (no weights needed).

``python -m flexseg.generation.bench [--images 4 --steps 20 --resolution 512 --precision fp32
--fusion on off --out bench.json]`` builds Stable Diffusion 1.5-sized components (U-Net,
VAE, CLIP ViT-L/14 text encoder, a 20-channel ControlNet) with random weights — same
architecture and cost as the real ones — and times :func:`~flexseg.generation.sampler.generate_image`
on a synthetic label crop. Meant for a GPU (``experiments/gen_bench.sh``); ``--tiny`` uses
the test-sized components so the code path can be checked on a CPU.
"""
from __future__ import annotations

import argparse
import json
import string
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from flexseg.generation import require_generate_extra
from flexseg.generation.models import Components, resolve_dtype
from flexseg.generation.sampler import SamplerConfig, generate_image


def write_letter_vocab(folder: Path) -> None:
    """``vocab.json`` + ``merges.txt`` of a CLIP BPE tokenizer over single characters (also the
    tokenizer of the test suite's tiny model folders, ``tests/generation/tiny_models.py``)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>"]
    for ch in string.ascii_lowercase + string.digits + ".,!":
        tokens += [ch, ch + "</w>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")


def letter_tokenizer(folder: Path) -> Any:
    """A CLIP tokenizer over single characters (the cost of the text encoder does not depend on it)."""
    from transformers import CLIPTokenizer

    write_letter_vocab(folder)
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77,
                         pad_token="<|endoftext|>")


def random_components(device: torch.device, dtype: torch.dtype, tiny: bool = False) -> Components:
    """SD 1.5-sized (or tiny) components with random weights."""
    for module in ("diffusers", "transformers", "scipy"):
        require_generate_extra(module)
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    if tiny:
        unet_kw: dict[str, Any] = dict(sample_size=8, layers_per_block=1, block_out_channels=(16, 32),
                                       down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                       up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                       attention_head_dim=4, norm_num_groups=8)
        cn_kw = {k: v for k, v in unet_kw.items() if k not in ("sample_size", "up_block_types")}
        cn_kw["conditioning_embedding_out_channels"] = (4, 4, 4, 4)
        vae_kw: dict[str, Any] = dict(block_out_channels=(8, 8, 8, 8), norm_num_groups=8, layers_per_block=1)
        text = CLIPTextConfig(vocab_size=80, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                              num_attention_heads=2, max_position_embeddings=77)
    else:  # Stable Diffusion 1.5 / DGInStyle ControlNet architecture
        unet_kw = dict(sample_size=64, cross_attention_dim=768)
        cn_kw = dict(cross_attention_dim=768)
        vae_kw = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, sample_size=512)
        text = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                              num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")
    blocks = ("DownEncoderBlock2D",) * 4, ("UpDecoderBlock2D",) * 4
    unet = UNet2DConditionModel(**unet_kw)
    controlnet = ControlNetModel(conditioning_channels=20, **cn_kw)
    vae = AutoencoderKL(down_block_types=blocks[0], up_block_types=blocks[1], latent_channels=4, **vae_kw)
    text_encoder = CLIPTextModel(text)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    tokenizer = letter_tokenizer(Path(tempfile.mkdtemp(prefix="flexseg-bench-tok-")))
    vae.to(device, torch.float32)
    for m in (unet, controlnet, text_encoder):
        m.to(device, dtype)
    for m in (vae, unet, controlnet, text_encoder):
        m.eval().requires_grad_(False)
    return Components(vae, text_encoder, tokenizer, unet, controlnet, scheduler, device, dtype)


def synthetic_crop(size: int) -> np.ndarray:
    """A street-like [size,size] train-id crop: sky, building, road, a car, a person, ignore."""
    lab = np.full((size, size), 2, dtype=np.uint8)
    lab[: size // 4] = 10
    lab[size // 2:] = 0
    lab[size // 2: 3 * size // 4, size // 8: size // 2] = 13
    lab[size // 3: 2 * size // 3, 5 * size // 8: 11 * size // 16] = 11
    lab[-size // 16:] = 255
    return lab


def bench(images: int, steps: int, resolution: int, precision: str, fusion: bool, device: torch.device,
          tiny: bool = False, view_batch: int = 4) -> dict[str, Any]:
    """Time ``images`` generations after one warm-up; returns images/s and peak memory."""
    dtype = resolve_dtype(precision, device)
    comp = random_components(device, dtype, tiny)
    cfg = SamplerConfig(steps=steps, fusion=fusion, view_batch=view_batch,
                        min_component_area=int(20000 * (resolution / 512) ** 2))
    label = synthetic_crop(resolution)
    prompt = "A city street scene with road building sky person car, in rainy weather."

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    generate_image(comp, label, prompt, 0, SamplerConfig(steps=1, fusion=fusion, view_batch=view_batch))  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync()
    start = time.perf_counter()
    for i in range(images):
        generate_image(comp, label, prompt, i + 1, cfg)
    sync()
    seconds = time.perf_counter() - start
    return {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "precision": str(dtype).removeprefix("torch."), "fusion": fusion, "steps": steps,
            "resolution": resolution, "images": images, "seconds": seconds, "images_per_s": images / seconds,
            "view_batch": view_batch, "tiny": tiny,
            "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None}


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(prog="python -m flexseg.generation.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--fusion", nargs="+", default=["on", "off"], choices=["on", "off"])
    ap.add_argument("--view-batch", type=int, default=4)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tiny", action="store_true", help="test-sized components (CPU check of the code path)")
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    args = ap.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    results = []
    for precision in args.precision:
        for fusion in args.fusion:
            r = bench(args.images, args.steps, args.resolution, precision, fusion == "on", device, args.tiny,
                      args.view_batch)
            print(json.dumps(r))
            results.append(r)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
