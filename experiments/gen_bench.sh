#!/usr/bin/env bash
# Cost of `python -m flexseg.generate` on a CUDA machine, without any weights: randomly
# initialized Stable Diffusion 1.5-sized components (U-Net 859.5 M, ControlNet with 20
# conditioning channels, VAE, CLIP ViT-L/14 text encoder), 512² crops, 20 DDIM steps,
# guidance 7.5, fusion on (DGInStyle's ×2 MultiDiffusion pass, 81 windows) and off.
#   bash experiments/gen_bench.sh        (PY=python to pick the interpreter, OUT=dir for the JSON files)
# Prints one JSON line per setting (images/s, peak GPU memory). Hours for N images on G GPUs:
#   N / (images_per_s · G) / 3600.  Record the numbers in README.md ("Cost" of the generation section).
set -u
PY=${PY:-python3}
OUT=${OUT:-gen_bench}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi -L
$PY -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())"
timeout 300 $PY -m flexseg.generation.bench --device cuda --images 3 --precision fp32 --fusion off on \
  --out "$OUT/gen_bench_fp32.json"; echo "fp32 rc=$?"
timeout 240 $PY -m flexseg.generation.bench --device cuda --images 3 --precision fp16 --fusion off on --view-batch 8 \
  --out "$OUT/gen_bench_fp16.json"; echo "fp16 rc=$?"
