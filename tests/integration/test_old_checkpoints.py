"""Checkpoints written before the optimizer became a Hydra partial (``SegModule(lr=...,
head_lr_mult=..., ...)``: those values in ``hyper_parameters`` and a flat ``optim`` group in
the stored config) still evaluate and resume. ``flexseg.eval`` takes only data/model/flex
from a checkpoint's config and loads the network weights; a resumed fit loads the optimizer
and scheduler states, whose layout did not change (tests/unit/test_optim.py)."""
import torch
from omegaconf import open_dict

from flexseg.eval import evaluate
from flexseg.utils.ckpt_config import apply_checkpoint_config
from tests.integration.test_configs import compose_cfg
from tests.integration.test_resume import _run
from tests.integration.test_train import TINY

#: what SegModule saved of the optimizer before (conf/optim/synthdrive.yaml's values, flat),
#: both in ``hyper_parameters`` and as the stored config's ``optim`` group
OLD_OPTIM = {"lr": 0.002, "head_lr_mult": 2.0, "weight_decay": 0.01, "betas": [0.9, 0.999], "decay_rule": "ndim",
             "no_decay_keys": ["norm", "pos_block"], "warmup_steps": 40, "warmup_ratio": 1e-06, "power": 1.0,
             "min_lr_ratio": 0.0}


def _as_written_before(src, dst):
    state = torch.load(src, map_location="cpu", weights_only=False)
    assert "lr" not in state["hyper_parameters"] and "optimizer" in state["flexseg_config"]["composed"]["optim"]
    state["hyper_parameters"] = {**state["hyper_parameters"], **OLD_OPTIM}
    for kind in ("composed", "resolved"):
        state["flexseg_config"][kind]["optim"] = dict(OLD_OPTIM)
    torch.save(state, dst)


def _evaluate(tmp_path, ckpt, name):
    cfg = compose_cfg([f"ckpt_path={ckpt}"], name="eval")
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / name)
    apply_checkpoint_config(cfg, overrides=[])  # as python -m flexseg.eval ckpt_path=...: data, model, flex
    assert cfg.data.num_source == 16 and "optimizer" in cfg.optim  # from the checkpoint / from conf/optim
    return evaluate(cfg)


def test_checkpoint_of_the_previous_layout_evaluates_and_resumes(tmp_path):
    from flexseg.train import train

    cfg = compose_cfg([*TINY, "trainer=debug", "test=false"])  # 2 steps
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "train")
    train(cfg)
    new = tmp_path / "train" / "checkpoints" / "last.ckpt"
    old = tmp_path / "old.ckpt"
    _as_written_before(new, old)
    assert _evaluate(tmp_path, old, "eval_old")["miou"] == _evaluate(tmp_path, new, "eval_new")["miou"]
    resumed_old, _, losses_old = _run(tmp_path / "resume_old", 3, ckpt_path=str(old))
    resumed_new, _, losses_new = _run(tmp_path / "resume_new", 3, ckpt_path=str(new))
    assert len(losses_old) == 1 and losses_old == losses_new
    for (name, a), (_, b) in zip(resumed_old.net.state_dict().items(), resumed_new.net.state_dict().items()):
        assert torch.equal(a, b), name
    sched_old, sched_new = (m.trainer.lr_scheduler_configs[0].scheduler for m in (resumed_old, resumed_new))
    assert sched_old.state_dict() == sched_new.state_dict() and sched_old.last_epoch == 3
