"""Generate a DGInStyle-style training set from GTA label maps: ``python -m flexseg.generate``.

``python -m flexseg.generate source.root=GTA_DIR model.base=SD15_DIR model.controlnet=CN_DIR
output_dir=OUT num_images=N [shard=I num_shards=K]`` (Hydra, ``conf/generate.yaml``).
Each image index i gets its own seed from (seed, i); its rare class, source frame, crop,
weather and prompt are drawn from that seed (:mod:`flexseg.generation.plan`), then the
two-pass ControlNet sampler (:mod:`flexseg.generation.sampler`) turns the crop into an
image. Done images are skipped, so re-running resumes; shards split the indices into
contiguous blocks. Layout of OUT: :mod:`flexseg.generation.store`; method and
differences from DGInStyle: ``docs/generation.md``.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from flexseg.data.datasets.gta import build_gta
from flexseg.data.labels import CLASS_NAMES
from flexseg.generation import plan as P
from flexseg.generation import store
from flexseg.generation.models import check_model_folders, load_components, resolve_dtype
from flexseg.generation.sampler import SamplerConfig, generate_image
from flexseg.utils.config import ConfigError
from flexseg.utils.resolvers import register_resolvers

log = logging.getLogger(__name__)


class LabelLoader:
    """Picklable ``i → [H,W] uint8 train ids`` of a GTA dataset's frame i."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __call__(self, index: int) -> np.ndarray:
        return self.dataset.load_label(index)


def validate(cfg: DictConfig) -> None:
    """Fail fast on bad values (raises :class:`ConfigError` naming the key)."""
    if not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {cfg.seed!r}")
    if not isinstance(cfg.num_images, int) or cfg.num_images < 0:
        raise ConfigError(f"num_images must be an integer >= 0, got {cfg.num_images!r}")
    if not isinstance(cfg.steps, int) or cfg.steps < 1:
        raise ConfigError(f"steps must be a positive integer, got {cfg.steps!r}")
    if not isinstance(cfg.resolution, int) or cfg.resolution < 8 or cfg.resolution % 8:
        raise ConfigError(f"resolution must be a positive multiple of 8 (the VAE's factor), got {cfg.resolution!r}")
    if not 0 <= cfg.weather.prob <= 1:
        raise ConfigError(f"weather.prob must be in [0, 1], got {cfg.weather.prob}")
    if cfg.fusion.enabled and (cfg.fusion.scale < 1 or cfg.fusion.stride < 1):
        raise ConfigError(f"fusion.scale and fusion.stride must be >= 1, got {cfg.fusion.scale}, {cfg.fusion.stride}")
    if not (isinstance(cfg.num_shards, int) and cfg.num_shards >= 1 and isinstance(cfg.shard, int)
            and 0 <= cfg.shard < cfg.num_shards):
        raise ConfigError(f"need 0 <= shard < num_shards, got shard={cfg.shard}, num_shards={cfg.num_shards}")
    if cfg.precision not in ("fp32", "fp16", "bf16"):
        raise ConfigError(f"precision must be fp32, fp16 or bf16, got {cfg.precision!r}")
    for key in ("fusion.view_batch", "fusion.min_component_area", "manifest_every", "preview", "crops.tries"):
        value = OmegaConf.select(cfg, key)
        if not isinstance(value, int) or value < (1 if key in ("fusion.view_batch", "crops.tries") else 0):
            raise ConfigError(f"{key} must be a non-negative integer (view_batch, tries: >= 1), got {value!r}")
    if not cfg.model.base or not cfg.model.controlnet:
        raise ConfigError("model.base and model.controlnet must name local model folders")


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_arguments(cfg: DictConfig, frames: int) -> dict[str, Any]:
    """The arguments that define the images (checked when a folder is resumed or shared)."""
    return {
        "source_root": str(Path(cfg.source.root).resolve()), "source_frames": frames,
        "seed": cfg.seed, "steps": cfg.steps, "guidance": float(cfg.guidance), "resolution": cfg.resolution,
        "precision": cfg.precision, "num_images": cfg.num_images,
        "fusion": OmegaConf.to_container(cfg.fusion), "weather": OmegaConf.to_container(cfg.weather),
        "crops": OmegaConf.to_container(cfg.crops),
        "models": model_names(cfg),
    }


def model_names(cfg: DictConfig) -> dict[str, str | None]:
    """Folder names of the models (recorded per image)."""
    return {"base": Path(cfg.model.base).name, "controlnet": Path(cfg.model.controlnet).name,
            "unet": Path(cfg.model.unet).name if cfg.model.unet else None}


def progress_bar():
    """A rich progress bar with images/s and ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} img/s"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn())


def stats_progress(rows, total: int):
    """Progress bar of the one-off class statistics."""
    from rich.progress import track

    log.info("class statistics of %d source frames (computed once, then cached)", total)
    return track(rows, total=total, description="class statistics")


def generate(cfg: DictConfig) -> dict[str, Any]:
    """Generate (the rest of) this shard's images; returns a summary dict."""
    validate(cfg)
    out = Path(cfg.output_dir).resolve()
    base = Path(cfg.model.base)
    controlnet = Path(cfg.model.controlnet)
    unet = Path(cfg.model.unet) if cfg.model.unet else None
    check_model_folders(base, controlnet, unet)
    gta = build_gta(cfg.source.root, cfg.source.split, split_file=cfg.source.split_file)
    frames = [p.stem for p in gta.image_paths]
    load_label = LabelLoader(gta)
    cache = Path(cfg.source.stats_cache) if cfg.source.stats_cache else out / "class_stats.json"
    out.mkdir(parents=True, exist_ok=True)
    stats = P.class_statistics(frames, load_label, cache, int(cfg.source.workers), track=stats_progress)
    table = P.rare_class_table(stats, cfg.crops.temperature, cfg.crops.min_pixels)
    store.check_run_arguments(out, run_arguments(cfg, len(frames)))

    indices = P.shard_indices(cfg.num_images, cfg.shard, cfg.num_shards)
    todo = [i for i in indices
            if not store.is_done(out, P.image_name(i, frames[P.plan_head(cfg.seed, i, table)[3]]))]
    log.info("shard %d/%d: %d images, %d already done, %d to generate in %s", cfg.shard, cfg.num_shards,
             len(indices), len(indices) - len(todo), len(todo), out)
    sampler_cfg = SamplerConfig(steps=cfg.steps, guidance=float(cfg.guidance), fusion=bool(cfg.fusion.enabled),
                                scale=cfg.fusion.scale, stride=cfg.fusion.stride,
                                min_component_area=cfg.fusion.min_component_area,
                                view_batch=cfg.fusion.view_batch)
    names = model_names(cfg)
    done_now = 0
    start = time.perf_counter()
    try:
        if todo:
            device = pick_device(cfg.device)
            if device.type == "cpu":
                log.warning("generating on the CPU: full-size Stable Diffusion takes minutes per image here")
            comp = load_components(base, controlnet, unet, device, resolve_dtype(cfg.precision, device))
            with progress_bar() as bar:
                task = bar.add_task("generate", total=len(todo), rate="-")
                for i in todo:
                    plan, crop = P.plan_image(cfg.seed, i, table, frames, load_label, cfg.resolution,
                                              cfg.weather.prob, tuple(cfg.weather.words), cfg.crops.min_fraction,
                                              cfg.crops.tries)
                    image = generate_image(comp, crop, plan.prompt, plan.seed, sampler_cfg)
                    record = {
                        "name": plan.name, "index": i, "source_frame": plan.frame_key,
                        "source_label": str(gta.label_read_paths[plan.frame]), "crop_box": list(plan.box),
                        "sampled_class": plan.cls, "sampled_class_name": CLASS_NAMES[plan.cls],
                        "prompt": plan.prompt, "weather": plan.weather, "seed": plan.seed, "run_seed": cfg.seed,
                        "steps": cfg.steps, "guidance": float(cfg.guidance), "resolution": cfg.resolution,
                        "fusion": bool(cfg.fusion.enabled), "models": names,
                    }
                    store.write_sample(out, plan.name, image, crop, record)
                    done_now += 1
                    rate = done_now / max(time.perf_counter() - start, 1e-9)
                    bar.update(task, advance=1, rate=f"{rate:.3f}")
                    if cfg.manifest_every and done_now % cfg.manifest_every == 0:
                        store.rebuild_manifest(out)
    finally:
        total = store.rebuild_manifest(out)
        if cfg.preview:
            store.write_preview(out, store.read_records(out), int(cfg.preview))
    seconds = time.perf_counter() - start
    summary = {"output_dir": str(out), "generated": done_now, "skipped": len(indices) - len(todo),
               "in_manifest": total, "seconds": seconds,
               "images_per_s": done_now / seconds if done_now and seconds > 0 else None}
    log.info("generated %d images in %.1f s; manifest lists %d", done_now, seconds, total)
    return summary


register_resolvers()  # ${run_stamp:...} of conf/hydra/default.yaml


@hydra.main(version_base="1.3", config_path="../conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    generate(cfg)


if __name__ == "__main__":
    main()
