"""Which checkpoint a run starts from; the SLURM run-directory name."""
import pytest
import torch
from omegaconf import OmegaConf

from flexseg.utils.config import ConfigError
from flexseg.utils.resolvers import slurm_job_tag
from flexseg.utils.resume import newest_checkpoint, resume_checkpoint


def _ckpt(path, step):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "state_dict": {}}, path)
    return path


def _cfg(**kw):
    return OmegaConf.create({"train": True, "resume": False, "ckpt_path": None, **kw})


def test_newest_of_last_and_hpc_checkpoints(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    assert resume_checkpoint(_cfg(resume=True), tmp_path) is None  # nothing yet: new run
    last = _ckpt(tmp_path / "checkpoints" / "last.ckpt", 1000)
    hpc = _ckpt(tmp_path / "hpc_ckpt_1.ckpt", 1700)
    assert newest_checkpoint(tmp_path) == (hpc, 1700)
    assert resume_checkpoint(_cfg(resume=True), tmp_path) == str(hpc)
    _ckpt(last, 2000)  # a later periodic save wins over the older signal checkpoint
    assert resume_checkpoint(_cfg(resume=True), tmp_path) == str(last)


def test_requeued_job_resumes_without_resume_flag(tmp_path, monkeypatch):
    last = _ckpt(tmp_path / "checkpoints" / "last.ckpt", 40)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    assert resume_checkpoint(_cfg(), tmp_path) == str(last)


def test_never_restarts_or_goes_back_over_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    _ckpt(tmp_path / "checkpoints" / "last.ckpt", 500)
    with pytest.raises(ConfigError, match="resume=true"):
        resume_checkpoint(_cfg(), tmp_path)
    older = _ckpt(tmp_path / "elsewhere" / "old.ckpt", 100)
    with pytest.raises(ConfigError, match="older"):
        resume_checkpoint(_cfg(ckpt_path=str(older)), tmp_path)
    newer = _ckpt(tmp_path / "elsewhere" / "new.ckpt", 900)
    assert resume_checkpoint(_cfg(ckpt_path=str(newer)), tmp_path) == str(newer)
    # test only (train=false): evaluating any checkpoint is fine
    assert resume_checkpoint(_cfg(train=False, ckpt_path=str(older)), tmp_path) == str(older)
    assert resume_checkpoint(_cfg(train=False), tmp_path) is None
    with pytest.raises(FileNotFoundError, match="nope"):
        resume_checkpoint(_cfg(ckpt_path=str(tmp_path / "nope.ckpt")), tmp_path)


@pytest.mark.parametrize("env,tag", [
    ({}, None),
    ({"SLURM_JOB_ID": "12", "SLURM_JOB_NAME": "train.sh"}, "slurm-12"),
    ({"SLURM_JOB_ID": "13", "SLURM_JOB_NAME": "x", "SLURM_ARRAY_JOB_ID": "10", "SLURM_ARRAY_TASK_ID": "3"}, "slurm-10_3"),
    ({"SLURM_JOB_ID": "14", "SLURM_JOB_NAME": "bash"}, None),  # interactive allocation
    ({"SLURM_JOB_ID": "15", "SLURM_JOB_NAME": "interactive"}, None),
])
def test_slurm_job_tag(env, tag):
    assert slurm_job_tag(env) == tag
