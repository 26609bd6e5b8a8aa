"""Writers of tiny, randomly initialized diffusion model folders in diffusers format.

``write_tiny_models(root)`` creates ``root/sd`` (vae, text_encoder, tokenizer, scheduler,
unet), ``root/controlnet`` (conditioning_channels 20) and ``root/style_unet`` — a few
hundred kB in all, loadable with ``local_files_only`` and fast on the CPU at 64².
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from flexseg.generation.bench import write_letter_vocab

UNET_KW = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
               down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
               up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
               attention_head_dim=4, norm_num_groups=8)
CONTROLNET_KW = dict(in_channels=4, layers_per_block=1, block_out_channels=(16, 32),
                     down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), cross_attention_dim=16,
                     attention_head_dim=4, norm_num_groups=8, conditioning_embedding_out_channels=(4, 4, 4, 4))


def write_tokenizer(folder: Path) -> None:
    """A CLIP BPE tokenizer over single letters (vocab.json + merges.txt) as a diffusers folder."""
    write_letter_vocab(folder)
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77, "do_lower_case": True,
                                                              "tokenizer_class": "CLIPTokenizer"}))
    (folder / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
         "pad_token": "<|endoftext|>"}))


def write_tiny_models(root: Path, conditioning_channels: int = 20, seed: int = 0) -> dict[str, Path]:
    """Write the three folders; returns {'base', 'controlnet', 'unet'} paths."""
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    base = root / "sd"
    UNet2DConditionModel(**UNET_KW).save_pretrained(base / "unet")
    AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                  up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=8,
                  layers_per_block=1, sample_size=64).save_pretrained(base / "vae")
    CLIPTextModel(CLIPTextConfig(vocab_size=80, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, max_position_embeddings=77, bos_token_id=0,
                                 eos_token_id=1, pad_token_id=1)).save_pretrained(base / "text_encoder")
    write_tokenizer(base / "tokenizer")
    DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                  set_alpha_to_one=False, steps_offset=1).save_pretrained(base / "scheduler")
    ControlNetModel(conditioning_channels=conditioning_channels, **CONTROLNET_KW).save_pretrained(root / "controlnet")
    torch.manual_seed(seed + 1)
    UNet2DConditionModel(**UNET_KW).save_pretrained(root / "style_unet")
    return {"base": base, "controlnet": root / "controlnet", "unet": root / "style_unet"}
