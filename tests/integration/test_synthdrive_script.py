"""experiments/synthdrive.sh: the seed-powered stages issue the declared runs, skip finished
ones, pin the thread count, and `status` counts progress (a stub stands in for Python)."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "synthdrive.sh"

STUB = """#!/usr/bin/env bash
# records one line per call: OMP_NUM_THREADS and the arguments; "trains" by writing results.json
echo "$OMP_NUM_THREADS $*" >> "$CALLS"
for a in "$@"; do
  case "$a" in hydra.run.dir=*) d=${a#hydra.run.dir=}; mkdir -p "$d"; echo '{}' > "$d/results.json";; esac
done
"""


def run_script(tmp_path: Path, *stages: str) -> tuple[str, list[str]]:
    stub = tmp_path / "python_stub"
    stub.write_text(STUB)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls.txt"
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(PY=str(stub), OUT10=str(tmp_path / "synth10"), CALLS=str(calls))
    out = subprocess.run(["bash", str(SCRIPT), *stages], env=env, capture_output=True, text=True, check=True)
    return out.stdout, calls.read_text().splitlines() if calls.exists() else []


@pytest.fixture
def partial_sweep(tmp_path: Path) -> Path:
    main = tmp_path / "synth10" / "main"
    (main / "flex" / "0").mkdir(parents=True)
    (main / "flex" / "0" / "results.json").write_text("{}")  # finished
    (main / "off" / "0" / "checkpoints").mkdir(parents=True)  # interrupted
    return tmp_path


def test_status_counts_finished_and_started_runs(partial_sweep):
    stdout, calls = run_script(partial_sweep, "status")
    assert calls == []  # trains nothing
    lines = dict(line.split(None, 1) for line in stdout.splitlines())
    assert lines["main10"].startswith("1/20 runs finished, 1 started")
    assert lines["ablation5"].startswith("0/15 runs finished, 0 started")
    assert lines["grid"].startswith("0/24 runs finished")
    assert lines["grid_width"].startswith("0/6 runs finished")


def test_main10_skips_finished_runs_resumes_the_rest_with_two_threads(partial_sweep):
    stdout, calls = run_script(partial_sweep, "main10")
    out10 = partial_sweep / "synth10"
    assert f"skip {out10}/main/flex/0 (results.json exists)" in stdout
    assert len(calls) == 19
    assert calls[0] == f"2 -m flexseg.train seed=0 hydra.run.dir={out10}/main/off/0 resume=true flex=off"
    assert calls[1] == f"2 -m flexseg.train seed=1 hydra.run.dir={out10}/main/flex/1 resume=true"
    assert all(c.startswith("2 ") for c in calls)  # OMP_NUM_THREADS=2 unless the caller sets it
    # a second pass finds everything finished
    assert run_script(partial_sweep, "status")[0].split()[:6] == ["main10", "20/20", "runs", "finished,", "0", "started"]


def test_grid_runs_checkpoint_every_100_steps(tmp_path):
    _, calls = run_script(tmp_path, "grid")
    assert len(calls) == 24
    assert all(c.endswith("callbacks.model_checkpoint.every_n_train_steps=100")
               or c.endswith("callbacks.model_checkpoint.every_n_train_steps=100 flex=off") for c in calls)
    assert sum("data.misalignment_px=12" in c for c in calls) == 6
    assert sum("trainer.max_steps=2400" in c for c in calls) == 6


def test_grid_px_is_the_first_18_grid_runs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, px_calls = run_script(tmp_path / "a", "grid_px")
    _, grid_calls = run_script(tmp_path / "b", "grid")
    strip = lambda calls, root: [c.replace(str(root), "") for c in calls]  # noqa: E731
    assert strip(px_calls, tmp_path / "a") == strip(grid_calls, tmp_path / "b")[:18]


def test_reports_refuse_incomplete_stages_and_run_once_complete(partial_sweep):
    result = subprocess.run(["bash", str(SCRIPT), "report_grid_px"], capture_output=True, text=True,
                            env={**os.environ, "PY": "false", "OUT10": str(partial_sweep / "synth10")})
    assert result.returncode == 3
    assert "main10 grid_px: 1/38 runs finished" in result.stderr
    _, calls = run_script(partial_sweep, "main10", "grid_px", "report_grid_px")
    out10 = partial_sweep / "synth10"
    assert calls[-1] == (f"2 -m flexseg.report {out10}/main {out10}/grid/px0 {out10}/grid/px8 {out10}/grid/px12 "
                         f"--x data.misalignment_px --out experiments/results/synthdrive10_grid_px")


def test_grid_reports_read_their_own_points(tmp_path):
    _, calls = run_script(tmp_path, "main10", "grid", "report_grid", "grid_width", "report_grid_width")
    out10 = tmp_path / "synth10"
    reports = [c for c in calls if "flexseg.report" in c]
    grid = " ".join(f"{out10}/grid/{p}" for p in ("px0", "px8", "px12", "steps2400"))
    assert reports == [
        f"2 -m flexseg.report {out10}/main {grid} --x data.misalignment_px --out experiments/results/synthdrive10_grid",
        f"2 -m flexseg.report {out10}/grid/embed256 --group-by folder --out experiments/results/synthdrive10_grid_width",
    ]
    assert calls.index(reports[0]) == 20 + 24  # after main10 and grid, before grid_width


def test_unknown_stage_is_an_error(tmp_path):
    out = subprocess.run(["bash", str(SCRIPT), "mian10"], capture_output=True, text=True,
                         env={**os.environ, "OUT10": str(tmp_path)})
    assert out.returncode == 2
    assert "unknown stage mian10" in out.stderr
