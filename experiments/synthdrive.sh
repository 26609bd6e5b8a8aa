#!/usr/bin/env bash
# Every synthdrive figure committed under experiments/ (CPU, the embedded default:
# DAFormer/MiT-B0 embed 32, batch 4, optim=synthdrive, 800 steps). Sequential, 2 threads.
# About 4.5 min per run on 2 idle cores: main ≈ 27 min, ablation ≈ 40 min, misalignment ≈ 36 min.
#   bash experiments/synthdrive.sh [main|ablation|misalignment|report|analysis ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-logs/experiments/synth}
stages=("${@:-main ablation misalignment report analysis}")
# shellcheck disable=SC2206
stages=(${stages[*]})

for stage in "${stages[@]}"; do
  case "$stage" in
    main)  # issue 4: FLEX-Seg (GAP+UBE+HAS) vs the plain-CE baseline, 3 seeds, same budget
      $PY -m flexseg.train -m seed=0,1,2 flex=default,off hydra.sweep.dir="$OUT/main" ;;
    ablation)  # the paper's module rows not covered by main: GAP+UBE, UBE only, GAP only
      $PY -m flexseg.train -m seed=0,1,2 flex.has.enabled=false flex.gap.enabled=true,false hydra.sweep.dir="$OUT/ablation_ube"
      $PY -m flexseg.train -m seed=0,1,2 flex.has.enabled=false flex.ube.enabled=false hydra.sweep.dir="$OUT/ablation_gap" ;;
    misalignment)  # gain vs image↔mask misalignment of the generated set (4 px is in main)
      $PY -m flexseg.train -m seed=0 data.misalignment_px=0,8 flex=default,off hydra.sweep.dir="$OUT/misalignment"
      $PY -m flexseg.train -m seed=1,2 data.misalignment_px=8 flex=default,off hydra.sweep.dir="$OUT/misalignment_seeds" ;;
    report)
      $PY -m flexseg.report "$OUT/main" --out experiments/results/synthdrive_main
      $PY -m flexseg.report "$OUT/main" "$OUT/ablation_ube" "$OUT/ablation_gap" --out experiments/results/synthdrive_ablation
      $PY -m flexseg.report "$OUT/main" "$OUT/misalignment" "$OUT/misalignment_seeds" --x data.misalignment_px \
        --out experiments/results/synthdrive_misalignment ;;
    analysis)  # boundary-ring vs interior errors, FLEX-Seg (main/0) vs baseline (main/1), seed 0
      for job in 0 1; do
        $PY -m flexseg.analyze ckpt_path="$OUT/main/$job/checkpoints/last.ckpt" examples=1 hydra.run.dir="$OUT/analysis/main_$job"
      done
      $PY -m flexseg.analysis.compare "$OUT/analysis/main_1" "$OUT/analysis/main_0" --labels baseline FLEX-Seg \
        --out experiments/results/analysis
      cp "$OUT/analysis/main_0/analysis.md" experiments/results/analysis/flex_seed0.md
      cp "$OUT/analysis/main_0/error_rates.png" experiments/results/analysis/flex_seed0_error_rates.png
      cp "$OUT/analysis/main_0/examples.png" experiments/results/analysis/flex_seed0_examples.png
      cp "$OUT/analysis/main_1/analysis.md" experiments/results/analysis/baseline_seed0.md ;;
    *) echo "unknown stage $stage (main|ablation|misalignment|report|analysis)" >&2; exit 2 ;;
  esac
done
