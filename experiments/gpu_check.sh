#!/usr/bin/env bash
# GPU checks and benchmarks, run from the repository root on a CUDA machine:
#   bash experiments/gpu_check.sh            (PY=python to pick the interpreter, OUT=dir for the outputs)
# 1. `make bench` on the GPU: the embedded default network (fp32) and the paper's
#    networks DAFormer/MiT-B5 (512², batch 2) and HRDA/MiT-B5 (1024², batch 2) in bf16;
#    and the foundation-model recipe vfm_flex (DINOv2-L + Rein / LoRA / frozen, 512², batch 4, bf16);
# 2. the tests marked `gpu` (CUDA ≡ CPU loss, bf16 autocast, mixed-precision training,
#    resume, GPU checkpoint evaluated on the CPU; the ViT backbone's bf16, checkpointing, memory);
# 3. the embedded default run with trainer=gpu (bf16-mixed, channels-last).
# Each step has its own time limit, so one failure does not hide the others.
set -u
PY=${PY:-python3}
OUT=${OUT:-gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline
nvidia-smi -L
$PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, torch.cuda.get_device_name())"

bench() { timeout "$1" $PY -m flexseg.bench --device cuda "${@:2}"; echo "bench rc=$?"; }
bench 120 --batch-size 4 --steps 30 --out "$OUT/bench_daformer_mitb0_b4_fp32.json"
bench 150 --model daformer_mitb5 --batch-size 2 --height 512 --width 512 --precision bf16-mixed --steps 20 \
  --out "$OUT/bench_daformer_mitb5_b2_512_bf16.json"
bench 150 --model hrda_mitb5 --batch-size 2 --height 1024 --width 1024 --precision bf16-mixed --steps 10 \
  --out "$OUT/bench_hrda_mitb5_b2_1024_bf16.json"

# the foundation-model recipe (DINOv2-L/16 + Rein, 512², batch 4, bf16): FLEX-Seg vs its baseline,
# step time, peak memory and the projected hours of 40k iterations; then LoRA and frozen (docs/vfm.md)
bench 200 --recipe vfm_flex --precision bf16-mixed --steps 10 --out "$OUT/bench_vfm_flex_rein_b4_512_bf16.json"
bench 200 --recipe vfm_flex --precision bf16-mixed --steps 10 --override model.tuning=lora --out "$OUT/bench_vfm_flex_lora_b4_512_bf16.json"
bench 150 --recipe vfm_flex --precision bf16-mixed --steps 10 --override model.tuning=frozen --out "$OUT/bench_vfm_flex_frozen_b4_512_bf16.json"

timeout 300 $PY -m pytest -q -s -m gpu tests/gpu -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log"

run_dir=$(mktemp -d)/default_gpu
start=$(date +%s)
timeout 240 $PY -m flexseg.train trainer=gpu trainer.precision=bf16-mixed trainer.max_steps=800 channels_last=true data.num_workers=4 \
  hydra.run.dir="$run_dir" 2>&1 | tail -25
echo "default run on the GPU: rc=${PIPESTATUS[0]}, $(( $(date +%s) - start )) s wall"
cp "$run_dir/results.json" "$OUT/default_gpu_results.json" 2>/dev/null
cp "$run_dir/csv/metrics.csv" "$OUT/default_gpu_metrics.csv" 2>/dev/null
ls -la "$OUT"
