#!/usr/bin/env bash
# Benchmark two versions of FlexSeg on the same GPU (e.g. before / after an optimization):
#   mkdir _old && git archive <rev> flexseg conf | tar -x -C _old     (the older version)
#   OUT=dir bash experiments/gpu_compare.sh [_old]
# Runs `python -m flexseg.bench --device cuda` for the paper's networks (DAFormer/MiT-B5 512²
# and HRDA/MiT-B5 1024², batch 2, bf16) and the embedded default, new then old, twice for
# HRDA (its step time varies most). Each process reports FLEX / plain measured side by
# side; compare ratios, not milliseconds across processes.
set -u
PY=${PY:-python3}
OUT=${OUT:-gpu_compare}
OLD=$(cd "${1:-_old}" && pwd)
ROOT=$(pwd)
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
export PYTHONUNBUFFERED=1 WANDB_MODE=offline
nvidia-smi -L
bench() {  # tag dir args...
  local tag=$1 dir=$2; shift 2
  echo "=== $tag"
  (cd "$dir" && timeout 150 $PY -m flexseg.bench --device cuda "$@" --out "$OUT/$tag.json") > "$OUT/$tag.log" 2>&1
  echo "rc=$?"; grep -E "flex step|plain step|FLEX|HAS draw" "$OUT/$tag.log"
}
D5="--model daformer_mitb5 --batch-size 2 --height 512 --width 512 --precision bf16-mixed --steps 40"
H5="--model hrda_mitb5 --batch-size 2 --height 1024 --width 1024 --precision bf16-mixed --steps 20"
D0="--batch-size 4 --steps 30"
bench new_daformer_mitb5 "$ROOT" $D5
bench old_daformer_mitb5 "$OLD" $D5
for run in a b; do
  bench "new_hrda_mitb5_$run" "$ROOT" $H5
  bench "old_hrda_mitb5_$run" "$OLD" $H5
done
bench new_default_b4 "$ROOT" $D0
bench old_default_b4 "$OLD" $D0
