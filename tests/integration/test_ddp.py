"""trainer=ddp with 2 CPU processes (gloo): the run completes, and every rank ends with
the same prototype bank, sampler state and weights (DDP keeps them in sync)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.integration.test_train import TINY

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ddp_two_cpu_processes_stay_in_sync(tmp_path):
    dump = tmp_path / "dump"
    cmd = [
        sys.executable, "-m", "flexseg.train", *TINY, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.max_steps=3", "data.batch_size=1", "data.num_test=2", f"hydra.run.dir={tmp_path / 'run'}",
        "+callbacks.dump._target_=tests.integration.ddp_dump.DumpRankState", f"+callbacks.dump.dirpath={dump}",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (torch.load(dump / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert torch.equal(r0["prototypes"], r1["prototypes"]) and torch.equal(r0["counts"], r1["counts"])
    assert int(r0["counts"].sum()) > 0
    s0, s1 = r0["sampler"], r1["sampler"]
    assert torch.equal(s0["h"], s1["h"]) and s0["pending"] == s1["pending"] and s0["step"] == s1["step"] == 3
    assert int(s0["seen"].sum()) > 0
    for name, w in r0["weights"].items():
        if "running_" in name or "num_batches_tracked" in name:
            continue  # BatchNorm statistics are per process (no SyncBatchNorm on CPU)
        assert torch.allclose(w, r1["weights"][name], atol=1e-6), name
    assert (tmp_path / "run" / "results.json").is_file()
