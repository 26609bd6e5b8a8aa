"""Benchmarks: ``python -m flexseg.bench [--steps N] [--out bench.json] [--device cpu|cuda]
[--precision 32|bf16-mixed] [--model NAME] [--recipe hrda_flex|daformer_flex [--encoder mit_bX]]
[--override KEY=VALUE …]``.

``--recipe NAME`` measures the paper recipe ``+experiment=NAME`` (its model, head width,
feature distance, SHADE, crop geometry: 512×512 for DAFormer, a 1024×1024 context with a
512 detail crop for HRDA; batch 2) with FLEX-Seg's modules on vs off — the cost of
FLEX-Seg over its own baseline (goal ≤ 1.05×) — and the peak GPU memory of each. On a CPU
pick a small size: ``--recipe hrda_flex --encoder mit_b0 --height 256 --width 256`` (the
HRDA detail crop is then half the context, as 512 in 1024). The foundation-model recipe
``--recipe vfm_flex`` (DINOv2-L + Rein, 512², batch 4; ``--override model.tuning=lora``
etc. for the other modes) runs on a CPU with a small backbone:
``--recipe vfm_flex --encoder vit_small_patch14_dinov2 --height 128 --width 128`` (docs/vfm.md).

Memory: the peak GPU memory of each variant's step (CUDA), and on every device the bytes of
the tensors the forward saves for backward (autograd's saved activations, each storage
counted once) — the part of the memory that FLEX-Seg's terms and the tuning mode change.

Measured in one run (machines are noisy, so ratios are reported side by side):
- train-step time of FLEX (GAP+UBE+HAS) vs plain CE for the same model and batch, with
  the forward / backward split (median over steps, the two variants interleaved), and
  the median (with quartiles) of the per-step ratios FLEX_i / plain_i, which cancels
  drifts of the machine's speed during the run;
- ``boundary_bands`` throughput (megapixels/s);
- HAS draw + update cost per batch at 35,000 images, as a fraction of a FLEX step;
- synthdrive loading throughput (images/s).

The network starts from random weights (``model.pretrained=null``): speed does not
depend on them, and the benchmark needs no files. ``--precision bf16-mixed`` runs the
step under ``torch.autocast`` in bfloat16, as ``trainer=gpu`` does.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from hydra import compose, initialize_config_dir
from rich.console import Console
from rich.table import Table

from flexseg.utils.conf_dir import config_dir

CONF = config_dir()  # the checkout's conf/ or an installed wheel's flexseg/conf
PLAIN = ["flex.gap.enabled=false", "flex.ube.enabled=false", "flex.has.enabled=false"]
PRECISIONS = ("32", "bf16-mixed")


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_time(fn: Callable[[], None], repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _module(overrides: list[str], device: torch.device):
    from flexseg.build import build_module

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    module = build_module(cfg).to(device)
    module.train()
    return module, cfg


def bench_train_step(
    steps: int, batch_size: int, height: int, width: int, device: torch.device, model: str | None,
    precision: str = "32", overrides: Sequence[str] = (),
) -> dict:
    """Median seconds of forward, backward and the whole step for FLEX and plain CE, and
    (CUDA) the peak memory of each variant's step. ``model`` None: the overrides choose it."""
    from flexseg.data.synthdrive import SynthDrive

    ds = SynthDrive("generated", batch_size, height, width, seed=0)
    batch = {
        "image": torch.stack([ds[i]["image"] for i in range(batch_size)]).to(device),
        "label": torch.stack([ds[i]["label"] for i in range(batch_size)]).to(device),
        "index": torch.arange(batch_size),
    }
    variants = {}
    for name, extra in (("flex", []), ("plain", PLAIN)):
        chosen = [f"model={model}"] if model else []
        module, _ = _module([*chosen, *overrides, "model.pretrained=null", *extra], device)
        _init_shade(module)
        opt = torch.optim.AdamW(list(module.net.parameters()) + list(module.criterion.parameters()), lr=1e-5)
        variants[name] = (module, opt)
    from flexseg.flex.has import HardnessAwareSampler

    sampler = HardnessAwareSampler(35_000, batch_size, total_steps=1000)
    record: dict[str, dict[str, list[float]]] = {n: {"forward": [], "backward": [], "has": [], "step": []} for n in variants}
    peak: dict[str, int] = {n: 0 for n in variants}
    saved: dict[str, int] = {n: 0 for n in variants}
    for step in range(steps + 2):  # 2 warm-up steps
        for name, (module, opt) in variants.items():
            _sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            with _autocast(device, precision), _SavedBytes() as counter:
                losses = module.compute_losses(batch)
            saved[name] = counter.bytes
            _sync(device)
            t1 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            opt.step()
            _sync(device)
            t2 = time.perf_counter()
            if name == "flex":  # HAS bookkeeping of a real step: draw a batch, feed back losses
                idx = next(iter(sampler))
                sampler.update(torch.tensor(idx), losses["per_image"].detach().cpu())
            t3 = time.perf_counter()
            if device.type == "cuda":
                peak[name] = max(peak[name], torch.cuda.max_memory_allocated(device))
            if step >= 2:
                rec = record[name]
                rec["forward"].append(t1 - t0)
                rec["backward"].append(t2 - t1)
                rec["has"].append(t3 - t2)
                rec["step"].append(t3 - t0)
    out = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in record.items()}
    out["ratio_flex_over_plain"] = out["flex"]["step"] / out["plain"]["step"]
    # the two variants of one step run back to back, so their ratio cancels slow drifts of
    # the machine's speed that the ratio of the two medians does not
    pairs = sorted(f / p for f, p in zip(record["flex"]["step"], record["plain"]["step"]))
    out["ratio_paired_median"] = statistics.median(pairs)
    out["ratio_paired_quartiles"] = [pairs[len(pairs) // 4], pairs[(3 * len(pairs)) // 4]]
    out["has_fraction_of_step"] = out["flex"]["has"] / out["flex"]["step"]
    for name in variants:
        out[name]["saved_activations_mb"] = saved[name] / 2**20
    out["saved_ratio_flex_over_plain"] = saved["flex"] / max(saved["plain"], 1)
    counts = getattr(variants["flex"][0].net, "parameter_counts", None)
    if counts is not None:
        out["parameters"] = dict(counts)
    if device.type == "cuda":
        for name in variants:
            out[name]["peak_memory_mb"] = peak[name] / 2**20
        out["memory_ratio_flex_over_plain"] = peak["flex"] / max(peak["plain"], 1)
    return out


class _SavedBytes(torch.autograd.graph.saved_tensors_hooks):
    """Counts the bytes of the tensors autograd saves for backward inside the block (each
    storage once: views and repeats of one activation are one allocation)."""

    def __init__(self) -> None:
        self.bytes = 0
        self._seen: set[tuple[int, str]] = set()

        def pack(t: torch.Tensor) -> torch.Tensor:
            try:
                storage = t.untyped_storage()
                key = (storage.data_ptr(), str(t.device))
                if key not in self._seen and storage.data_ptr():
                    self._seen.add(key)
                    self.bytes += storage.nbytes()
            except (RuntimeError, NotImplementedError):  # tensors without storage (sparse, meta)
                pass
            return t

        super().__init__(pack, lambda t: t)

    def __enter__(self) -> _SavedBytes:
        super().__enter__()
        return self


def _init_shade(module) -> None:
    """SHADE needs base styles before a training forward; the benchmark has no data, so
    it sets random ones (speed does not depend on their values)."""
    sh = getattr(getattr(module.net, "backbone", None), "style_hallucination", None)
    if sh is not None:
        g = torch.Generator().manual_seed(0)
        sh.set_styles(torch.randn(sh.proto_mean.shape, generator=g), torch.rand(sh.proto_std.shape, generator=g) + 0.5)


#: paper geometry of the recipes (context / crop size, batch)
RECIPES = {"daformer_flex": {"size": (512, 512), "batch": 2, "iterations": 40_000},
           "hrda_flex": {"size": (1024, 1024), "batch": 2, "iterations": 40_000},
           "vfm_flex": {"size": (512, 512), "batch": 4, "iterations": 40_000}}


def recipe_overrides(recipe: str, height: int, width: int, encoder: str | None) -> list[str]:
    """Config overrides of ``--recipe``: the experiment, random init, the encoder, and for
    HRDA a detail crop of half the context when the context is not the paper's 1024."""
    if recipe not in RECIPES:
        raise ValueError(f"--recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
    out = [f"+experiment={recipe}"]
    if encoder:
        out.append(f"model.encoder={encoder}")
    if recipe.startswith("vfm") and (height, width) != RECIPES[recipe]["size"]:
        out.append(f"model.img_size={min(height, width)}")  # the position grid of the smaller crop
    if recipe.startswith("hrda") and (height, width) != RECIPES[recipe]["size"]:
        out.append(f"model.hr_crop_size=[{height // 2},{width // 2}]")
    return out


def bench_boundaries(device: torch.device, batch: int = 8, size: tuple[int, int] = (512, 512), repeats: int = 5) -> dict:
    from flexseg.flex.boundaries import boundary_bands

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 19, (batch, size[0] // 16, size[1] // 16), generator=g)
    labels = labels.repeat_interleave(16, 1).repeat_interleave(16, 2).to(device)
    boundary_bands(labels)
    t = _median_time(lambda: boundary_bands(labels), repeats, device)
    return {"seconds": t, "megapixels_per_s": batch * size[0] * size[1] / t / 1e6, "shape": [batch, *size]}


def bench_has(num_samples: int = 35_000, batch_size: int = 2, repeats: int = 200) -> dict:
    from flexseg.flex.has import HardnessAwareSampler

    sampler = HardnessAwareSampler(num_samples, batch_size, total_steps=10_000)
    it = iter(sampler)
    losses = torch.rand(batch_size)

    def one() -> None:
        nonlocal it
        try:
            idx = next(it)
        except StopIteration:
            it = iter(sampler)
            idx = next(it)
        sampler.update(torch.tensor(idx), losses)

    for _ in range(20):
        one()
    return {"seconds_per_batch": _median_time(one, repeats, torch.device("cpu")), "num_samples": num_samples}


def bench_data(num: int = 64, height: int = 128, width: int = 256) -> dict:
    from flexseg.data.synthdrive import SynthDrive

    ds = SynthDrive("generated", num, height, width, seed=123, cache=False)
    t0 = time.perf_counter()
    for i in range(num):
        ds[i]
    dt = time.perf_counter() - t0
    return {"images_per_s": num / dt, "size": [height, width]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per variant")
    parser.add_argument("--batch-size", type=int, default=None, help="default 8 (2 with --recipe)")
    parser.add_argument("--height", type=int, default=None, help="default 128 (the recipe's with --recipe)")
    parser.add_argument("--width", type=int, default=None, help="default 256 (the recipe's with --recipe)")
    parser.add_argument("--model", default="daformer_mitb0")
    parser.add_argument("--recipe", default=None, choices=sorted(RECIPES),
                        help="paper recipe (+experiment=NAME), FLEX-Seg on vs off; --model is ignored")
    parser.add_argument("--encoder", default=None, help="with --recipe: another encoder (e.g. mit_b0 on a CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="32", choices=PRECISIONS, help="bf16-mixed: autocast as trainer=gpu")
    parser.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra config overrides for both variants, e.g. model.embed_dim=256")
    parser.add_argument("--out", default="bench.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.recipe:
        geo = RECIPES[args.recipe]
        args.height = args.height or geo["size"][0]
        args.width = args.width or geo["size"][1]
        args.batch_size = args.batch_size or geo["batch"]
        args.override = recipe_overrides(args.recipe, args.height, args.width, args.encoder) + list(args.override)
        args.model = None
    args.height, args.width, args.batch_size = args.height or 128, args.width or 256, args.batch_size or 8
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "config": {"model": args.model, "recipe": args.recipe, "batch_size": args.batch_size, "size": [args.height, args.width],
                   "precision": args.precision, "overrides": list(args.override), "steps": args.steps,
                   "torch": torch.__version__},
        "train_step": bench_train_step(args.steps, args.batch_size, args.height, args.width, device, args.model,
                                       args.precision, args.override),
        "boundary_bands": bench_boundaries(device),
        "has": bench_has(),
        "data": bench_data(height=args.height, width=args.width),
    }
    ts = result["train_step"]
    extra = f", {' '.join(args.override)}" if args.override else ""
    table = Table(title=f"FlexSeg benchmark — {result['device']}, {args.recipe or args.model}{extra}, batch {args.batch_size}, "
                        f"{args.height}×{args.width}, precision {args.precision}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name in ("flex", "plain"):
        r = ts[name]
        table.add_row(f"{name} step (fwd / bwd+opt)", f"{1e3 * r['step']:.1f} ms ({1e3 * r['forward']:.1f} / {1e3 * r['backward']:.1f})")
    goal = "1.05" if args.recipe else "1.10"
    table.add_row("FLEX / plain step time", f"{ts['ratio_flex_over_plain']:.3f} (goal ≤ {goal})")
    if "memory_ratio_flex_over_plain" in ts:
        table.add_row("peak memory flex / plain", f"{ts['flex']['peak_memory_mb']:.0f} / {ts['plain']['peak_memory_mb']:.0f} MiB "
                                                  f"({ts['memory_ratio_flex_over_plain']:.3f})")
    table.add_row("saved activations flex / plain", f"{ts['flex']['saved_activations_mb']:.1f} / "
                  f"{ts['plain']['saved_activations_mb']:.1f} MiB ({ts['saved_ratio_flex_over_plain']:.3f})")
    if "parameters" in ts:
        table.add_row("trainable / total parameters", f"{ts['parameters']['trainable']:,} / {ts['parameters']['total']:,}")
    if args.recipe:
        iterations = RECIPES[args.recipe]["iterations"]
        ts["projected_hours"] = ts["flex"]["step"] * iterations / 3600
        table.add_row(f"projected {iterations:,} FLEX steps here", f"{ts['projected_hours']:.1f} h")
    q1, q3 = ts["ratio_paired_quartiles"]
    table.add_row("  same, median of per-step pairs", f"{ts['ratio_paired_median']:.3f} ({q1:.3f}–{q3:.3f})")
    table.add_row("HAS draw+update / FLEX step", f"{100 * ts['has_fraction_of_step']:.3f} %")
    table.add_row("HAS draw+update at 35k images", f"{1e6 * result['has']['seconds_per_batch']:.1f} µs/batch")
    table.add_row("boundary_bands (8×512×512)", f"{result['boundary_bands']['megapixels_per_s']:.1f} MP/s")
    table.add_row("synthdrive generation", f"{result['data']['images_per_s']:.1f} images/s")
    Console().print(table)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
