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


# ---------------------------------------------------------------------------- issue 30: the adverse-domain test


def test_adverse_pairs_the_embedded_default_on_all_nine_targets(tmp_path):
    stdout, calls = run_script(tmp_path, "adverse")
    out10 = tmp_path / "synth10"
    assert len(calls) == 20
    assert calls[0] == f"2 -m flexseg.train seed=0 hydra.run.dir={out10}/adverse/flex/0 resume=true data=synthdrive_adverse"
    assert calls[1] == (f"2 -m flexseg.train seed=0 hydra.run.dir={out10}/adverse/off/0 resume=true "
                        "data=synthdrive_adverse flex=off")
    assert [c.split()[3] for c in calls[::2]] == [f"seed={s}" for s in range(10)]
    assert all("data=synthdrive_adverse" in c for c in calls) and "committed" not in stdout
    # restartable: a second pass trains nothing, status counts 20/20
    assert run_script(tmp_path, "adverse")[1] == calls
    lines = dict(line.split(None, 1) for line in run_script(tmp_path, "status")[0].splitlines())
    assert lines["adverse"].startswith("20/20 runs finished") and lines["adverse_ube"].startswith("0/10 runs finished")


def test_adverse_ube_is_the_ablation_row_on_the_same_data(tmp_path):
    _, calls = run_script(tmp_path, "adverse_ube")
    out10 = tmp_path / "synth10"
    assert len(calls) == 10
    assert calls[3] == (f"2 -m flexseg.train seed=3 hydra.run.dir={out10}/adverse_ube/ube/3 resume=true "
                        "data=synthdrive_adverse flex.gap.enabled=false flex.has.enabled=false")


def test_adverse_reports_wait_for_complete_stages_then_read_their_runs(tmp_path):
    env = {**os.environ, "PY": "false", "OUT10": str(tmp_path / "synth10")}
    result = subprocess.run(["bash", str(SCRIPT), "report_adverse"], capture_output=True, text=True, env=env)
    assert result.returncode == 3 and "adverse: 0/20 runs finished" in result.stderr
    _, calls = run_script(tmp_path, "adverse", "report_adverse", "adverse_ube", "report_adverse_ube")
    out10 = tmp_path / "synth10"
    tail = [c for c in calls if "flexseg.train" not in c]
    res = "experiments/results"
    assert tail == [
        f"2 -m flexseg.report {out10}/adverse --group-by folder --out {res}/synthdrive10_adverse",
        f"2 -m flexseg.report {out10}/adverse --group-by folder --level 0.975 --out {res}/synthdrive10_adverse_bonferroni",
        f"2 experiments/adverse_slope.py --runs {res}/synthdrive10_adverse/runs.csv",
        f"2 -m flexseg.report {out10}/adverse {out10}/adverse_ube --group-by folder --out {res}/synthdrive10_adverse_ube",
        f"2 -m flexseg.report {out10}/adverse {out10}/adverse_ube --group-by folder --baseline flex.gap.enabled=false "
        f"flex.ube.enabled=true flex.has.enabled=false --out {res}/synthdrive10_adverse_vs_ube",
    ]
    assert calls.index(tail[0]) == 20 and calls.index(tail[3]) == 20 + 3 + 10


def test_boundary_evidence_stage_runs_the_script(tmp_path):
    _, calls = run_script(tmp_path, "boundary_evidence")
    assert calls == ["2 experiments/boundary_evidence.py"]


def test_commit_runs_commits_each_finished_run_folder_only_inside_a_repository(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True, check=True)  # noqa: E731
    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (repo / ".gitignore").write_text("checkpoints/\n")
    git("add", ".gitignore")
    git("commit", "-q", "-m", "init")
    stub = tmp_path / "python_stub"
    stub.write_text(STUB + 'for a in "$@"; do case "$a" in hydra.run.dir=*) mkdir -p "${a#hydra.run.dir=}/checkpoints"; '
                           'touch "${a#hydra.run.dir=}/checkpoints/last.ckpt";; esac; done\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(PY=str(stub), OUT10=str(repo / "runs"), CALLS=str(tmp_path / "calls.txt"), COMMIT_RUNS="1")
    out = subprocess.run(["bash", str(SCRIPT), "adverse_ube"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.count("committed runs/adverse_ube/ube/") == 10
    log = git("log", "--format=%s").stdout.splitlines()
    assert len(log) == 11 and log[0] == "synthdrive run runs/adverse_ube/ube/9"
    files = git("ls-files").stdout.split()
    assert "runs/adverse_ube/ube/0/results.json" in files and not any("checkpoints" in f for f in files)
    # outside a repository: reported, not committed
    env["OUT10"] = str(tmp_path / "elsewhere")
    out = subprocess.run(["bash", str(SCRIPT), "adverse_ube"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.count("not committed") == 10
