#!/usr/bin/env bash
# Every synthdrive figure committed under experiments/ (CPU, the embedded default:
# DAFormer/MiT-B0 embed 32, batch 4, optim=synthdrive, 800 steps). Sequential, 2 threads.
# About 4.5 min per run on 2 idle cores: main ≈ 27 min, ablation ≈ 40 min, misalignment ≈ 36 min.
#   bash experiments/synthdrive.sh [main|ablation|misalignment|report|analysis ...]   (default: all)
# Seed-powered sweeps (issue 15; paired by seed, docs/statistics.md; pre-declared grid:
# experiments/synthdrive_grid.md). One run per folder <OUT10>/<stage>/<arm>/<seed>; a run
# whose results.json exists is skipped, so a stage can be restarted and shares runs:
#   main10      FLEX-Seg vs flex=off, seeds 0-9 (20 runs, ≈ 90 min)
#   ablation5   GAP, UBE, GAP+UBE (HAS off), seeds 0-4; "all" and the baseline are main10's (15 runs, ≈ 70 min)
#   grid        experiments/synthdrive_grid.md: misalignment 0/8/12 px, 2400 steps; FLEX-Seg vs
#               flex=off, seeds 0-2 per point; 4 px / 800 steps is main10 (24 runs, ≈ 2.7 h)
#   grid_width  the grid's model.embed_dim=256 point (6 runs; 41-90 min each on 2 CPU cores, by machine);
#               run it with OUT10=experiments/runs/synth10 so finished runs can be committed (experiments/runs/README.md)
#   report10 | report_ablation5 | report_grid   flexseg.report with the paired comparison
#   grid_px | report_grid_px   the grid's misalignment points alone (G1; report stops unless complete)
#   report_grid_width   G3 from grid_width's 6 runs (report_grid covers G1, G2: the px and 2400-step points)
#   exploratory  experiments/results/exploratory.md: differences of gains, one arm's change (from runs.csv)
#   status      runs finished / started / total of each seed-powered sweep (trains nothing)
# Physically modelled adverse domains (issue 30; pre-declared: experiments/synthdrive_adverse.md):
#   boundary_evidence  experiments/results/boundary_evidence/: Canny-edge evidence of the label
#               boundaries per target domain, old and new (trains nothing, ≈ 4 min)
#   adverse     FLEX-Seg vs flex=off, seeds 0-9, the embedded default evaluated also on fog_dense,
#               night_dark, rain_lens, snow_storm (data=synthdrive_adverse; 20 runs, ≈ 2 h)
#   adverse_ube UBE only (GAP, HAS off), seeds 0-9, same data (H6, optional; 10 runs, ≈ 1 h)
#   report_adverse | report_adverse_ube   H4, H4b, H5 | H6 (each only once its runs are complete)
#   Run them with OUT10=experiments/runs/synth10 COMMIT_RUNS=1 so each finished run is committed
#   (COMMIT_RUNS=1: git add + commit of the run folder, only inside a repository and not ignored).
#   bash experiments/synthdrive.sh main10 report10    (not part of the default "all")
set -euo pipefail
cd "$(dirname "$0")/.."
# CPU numerics depend on the number of torch threads (the order of float reductions): the
# committed figures were made with 2; another count gives different (equally valid) runs.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
PY=${PY:-.venv/bin/python}
# The grid's long runs keep a last.ckpt every 100 steps, so a lost machine costs at most that
# much (results unchanged: checkpointing draws no random numbers; report ignores the key).
CKPT=callbacks.model_checkpoint.every_n_train_steps=100
OUT=${OUT:-logs/experiments/synth}
OUT10=${OUT10:-logs/experiments/synth10}
RESULTS10=${RESULTS10:-experiments/results}
stages=("${@:-main ablation misalignment report analysis}")
# shellcheck disable=SC2206
stages=(${stages[*]})

# commit_run DIR: with COMMIT_RUNS=1, commit a finished run folder to the repository holding it
# (checkpoints stay ignored); a folder outside a repository or ignored (logs/) is only reported.
commit_run() {
  local dir=$1 rel
  [[ ${COMMIT_RUNS:-0} == 1 && -f "$dir/results.json" ]] || return 0
  if ! git -C "$dir" rev-parse --is-inside-work-tree >/dev/null 2>&1 || git -C "$dir" check-ignore -q results.json; then
    echo "not committed: $dir is outside a repository or ignored (use OUT10=experiments/runs/synth10)"
    return 0
  fi
  rel=$(git -C "$dir" rev-parse --show-prefix)
  git -C "$dir" add -- . && git -C "$dir" commit -q -m "synthdrive run ${rel%/}" -- . && echo "committed ${rel%/}"
}

# run_one DIR SEED [OVERRIDES...]: one training run in DIR unless DIR/results.json exists.
# Same command line as a plain `python -m flexseg.train seed=S hydra.run.dir=DIR [overrides]`,
# plus resume=true: an interrupted run continues from its last.ckpt (a run directory holding
# a checkpoint is never trained over from step 0).
# In `status` mode (the `status` stage) it only counts: finished, started (a checkpoint), total.
MODE=run
n_done=0 n_started=0 n_total=0
run_one() {
  local dir=$1 seed=$2
  shift 2
  if [[ $MODE == status ]]; then
    n_total=$((n_total + 1))
    if [[ -f "$dir/results.json" ]]; then
      n_done=$((n_done + 1))
    elif [[ -d "$dir/checkpoints" ]]; then
      n_started=$((n_started + 1))
    fi
    return 0
  fi
  if [[ -f "$dir/results.json" ]]; then
    echo "skip $dir (results.json exists)"
    return 0
  fi
  echo "run  $dir: seed=$seed $*"
  $PY -m flexseg.train "seed=$seed" "hydra.run.dir=$dir" resume=true "$@"
  commit_run "$dir"
}

# pair DIR SEEDS [OVERRIDES...]: FLEX-Seg in DIR/flex/<seed> and flex=off in DIR/off/<seed>.
pair() {
  local dir=$1 seeds=$2 seed
  shift 2
  for seed in $seeds; do
    run_one "$dir/flex/$seed" "$seed" "$@"
    run_one "$dir/off/$seed" "$seed" "$@" flex=off
  done
}

# Seeds of the adverse-domain test (experiments/synthdrive_adverse.md) and its data config:
# the embedded default's training, evaluated on the nine targets.
ADVERSE_SEEDS="0 1 2 3 4 5 6 7 8 9"
ADVERSE_DATA=data=synthdrive_adverse

# The grid's misalignment amplitudes (G1) and their run folders <OUT10>/grid/px<A>.
GRID_PX=(0 8 12)
PX_DIRS=("${GRID_PX[@]/#/$OUT10/grid/px}")

# grid_px: the grid's misalignment points, the first 18 runs of `grid`.
grid_px() {
  local px
  for px in "${GRID_PX[@]}"; do pair "$OUT10/grid/px$px" "0 1 2" "data.misalignment_px=$px" "$CKPT"; done
}

# count_runs STAGE...: n_done / n_started / n_total over the runs of the stages (trains nothing).
count_runs() {
  local stage
  MODE=status n_done=0 n_started=0 n_total=0
  for stage in "$@"; do run_stage "$stage"; done
  MODE=run
}

# require_complete STAGE...: stop (exit 3) unless every run of the stages has its results.json;
# the declared rule analyses a stage only once it is complete (experiments/synthdrive_grid.md).
require_complete() {
  count_runs "$@"
  if ((n_done < n_total)); then
    echo "$*: $n_done/$n_total runs finished; the declared rule reports only complete stages" >&2
    exit 3
  fi
}

run_stage() {
  local stage=$1 sweep
  case "$stage" in
    main)  # issue 4: FLEX-Seg (GAP+UBE+HAS) vs the plain-CE baseline, 3 seeds, same budget.
      # The committed 3-seed figures drew HAS per image (flex.has.draw=index, the behaviour before
      # the per-iteration default; docs/has.md): kept here so the stage reproduces them.
      $PY -m flexseg.train -m seed=0,1,2 flex=default,off flex.has.draw=index hydra.sweep.dir="$OUT/main" ;;
    ablation)  # the paper's module rows not covered by main: GAP+UBE, UBE only, GAP only
      $PY -m flexseg.train -m seed=0,1,2 flex.has.enabled=false flex.gap.enabled=true,false hydra.sweep.dir="$OUT/ablation_ube"
      $PY -m flexseg.train -m seed=0,1,2 flex.has.enabled=false flex.ube.enabled=false hydra.sweep.dir="$OUT/ablation_gap" ;;
    misalignment)  # gain vs image↔mask misalignment of the generated set (4 px is in main); per-image HAS draws as main
      $PY -m flexseg.train -m seed=0 data.misalignment_px=0,8 flex=default,off flex.has.draw=index hydra.sweep.dir="$OUT/misalignment"
      $PY -m flexseg.train -m seed=1,2 data.misalignment_px=8 flex=default,off flex.has.draw=index hydra.sweep.dir="$OUT/misalignment_seeds" ;;
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
    main10)  # FLEX-Seg vs the plain-CE baseline, seeds 0-9, paired by seed
      pair "$OUT10/main" "0 1 2 3 4 5 6 7 8 9" ;;
    ablation5)  # the module rows, HAS off as in the paper's ablation; seeds 0-4
      for seed in 0 1 2 3 4; do
        run_one "$OUT10/ablation/gap/$seed" "$seed" flex.ube.enabled=false flex.has.enabled=false
        run_one "$OUT10/ablation/ube/$seed" "$seed" flex.gap.enabled=false flex.has.enabled=false
        run_one "$OUT10/ablation/gap_ube/$seed" "$seed" flex.has.enabled=false
      done ;;
    grid)  # experiments/synthdrive_grid.md: one factor at a time around the default point
      grid_px
      pair "$OUT10/grid/steps2400" "0 1 2" trainer.max_steps=2400 "$CKPT" ;;
    grid_width)  # the grid's reference-head-width point: ≈ 15x the cost of a default run on the CPU
      pair "$OUT10/grid/embed256" "0 1 2" model.embed_dim=256 "$CKPT" ;;
    report10)  # H1, H2 of experiments/synthdrive_grid.md (95 %, Bonferroni 98.75 %, robustness)
      require_complete main10
      $PY -m flexseg.report "$OUT10/main" --group-by folder --out "$RESULTS10/synthdrive10_main"
      $PY -m flexseg.report "$OUT10/main" --group-by folder --level 0.9875 --out "$RESULTS10/synthdrive10_main_bonferroni"
      $PY -m flexseg.report "$OUT10/main" --group-by folder --test wilcoxon --ci bootstrap \
        --out "$RESULTS10/synthdrive10_main_wilcoxon_bootstrap" ;;
    report_ablation5)  # H3a/H3b; seeds 0-4 of main10 are the "all" row and the baseline (5-9 dropped, with a warning)
      require_complete main10 ablation5
      $PY -m flexseg.report "$OUT10/main" "$OUT10/ablation" --group-by folder --out "$RESULTS10/synthdrive10_ablation"
      $PY -m flexseg.report "$OUT10/main" "$OUT10/ablation" --group-by folder --level 0.9875 \
        --out "$RESULTS10/synthdrive10_ablation_bonferroni"
      $PY -m flexseg.report "$OUT10/main" "$OUT10/ablation" --group-by folder \
        --baseline flex.gap.enabled=false flex.ube.enabled=true flex.has.enabled=false \
        --out "$RESULTS10/synthdrive10_ablation_vs_ube" ;;
    grid_px)  # the misalignment points alone (the first 18 runs of grid)
      grid_px ;;
    report_grid_px)  # G1 alone, once its 18 runs are complete (the rest of the grid may still run)
      require_complete main10 grid_px
      $PY -m flexseg.report "$OUT10/main" "${PX_DIRS[@]}" --x data.misalignment_px --out "$RESULTS10/synthdrive10_grid_px" ;;
    report_grid)  # Δ against misalignment (4 px = main10, all 10 seeds) and at 2400 steps (G1, G2)
      require_complete main10 grid
      $PY -m flexseg.report "$OUT10/main" "${PX_DIRS[@]}" "$OUT10/grid/steps2400" \
        --x data.misalignment_px --out "$RESULTS10/synthdrive10_grid" ;;
    report_grid_width)  # G3: the width-256 point against its own flex=off runs (its own stage, as it runs 4-9 h)
      require_complete grid_width
      $PY -m flexseg.report "$OUT10/grid/embed256" --group-by folder --out "$RESULTS10/synthdrive10_grid_width" ;;
    boundary_evidence)  # issue 30: label-boundary evidence per target domain (trains nothing)
      $PY experiments/boundary_evidence.py ;;
    adverse)  # experiments/synthdrive_adverse.md H4, H4b, H5: FLEX-Seg vs flex=off on all nine targets
      pair "$OUT10/adverse" "$ADVERSE_SEEDS" "$ADVERSE_DATA" ;;
    adverse_ube)  # H6 (optional): UBE only (GAP and HAS off, as ablation5's row), same seeds and data
      for seed in $ADVERSE_SEEDS; do
        run_one "$OUT10/adverse_ube/ube/$seed" "$seed" "$ADVERSE_DATA" flex.gap.enabled=false flex.has.enabled=false
      done ;;
    report_adverse)  # H4, H4b (95 %, Bonferroni 97.5 %) and H5 (per-seed slope on the evidence loss)
      require_complete adverse
      $PY -m flexseg.report "$OUT10/adverse" --group-by folder --out "$RESULTS10/synthdrive10_adverse"
      $PY -m flexseg.report "$OUT10/adverse" --group-by folder --level 0.975 --out "$RESULTS10/synthdrive10_adverse_bonferroni"
      $PY experiments/adverse_slope.py --runs "$RESULTS10/synthdrive10_adverse/runs.csv" ;;
    report_adverse_ube)  # H6: FLEX-Seg vs UBE only on the adverse domains (and every arm vs flex=off)
      require_complete adverse adverse_ube
      $PY -m flexseg.report "$OUT10/adverse" "$OUT10/adverse_ube" --group-by folder --out "$RESULTS10/synthdrive10_adverse_ube"
      $PY -m flexseg.report "$OUT10/adverse" "$OUT10/adverse_ube" --group-by folder \
        --baseline flex.gap.enabled=false flex.ube.enabled=true flex.has.enabled=false \
        --out "$RESULTS10/synthdrive10_adverse_vs_ube" ;;
    exploratory)  # the exploratory paired contrasts quoted in the docs (from the committed runs.csv tables)
      $PY experiments/exploratory.py ;;
    status)  # how far each seed-powered sweep is (runs finished / started / total); trains nothing
      for sweep in main10 ablation5 grid grid_width adverse adverse_ube; do
        count_runs "$sweep"
        printf '%-11s %3d/%d runs finished, %d started (resume with the same stage)\n' \
          "$sweep" "$n_done" "$n_total" "$n_started"
      done ;;
    *) echo "unknown stage $stage (main|ablation|misalignment|report|analysis|main10|ablation5|grid|grid_width|grid_px|report10|report_ablation5|report_grid_px|report_grid|report_grid_width|exploratory|boundary_evidence|adverse|adverse_ube|report_adverse|report_adverse_ube|status)" >&2
       exit 2 ;;
  esac
}

for stage in "${stages[@]}"; do
  run_stage "$stage"
done
