"""Exact resume: N steps straight == N/2 steps, checkpoint, resume, N/2 steps (bitwise on CPU)."""
import lightning as L
import pytest
import torch
from omegaconf import open_dict

from flexseg.build import build_callbacks, build_datamodule, build_module, build_trainer
from tests.integration.test_configs import compose_cfg
from tests.integration.test_train import TINY


class StopAt(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


class RecordLosses(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def _run(tmp_path, steps, ckpt_path=None, stop_at=None, extra=()):
    cfg = compose_cfg([*TINY, "trainer=debug", f"trainer.max_steps={steps}", "callbacks=default",
                       "callbacks.model_checkpoint.every_n_train_steps=1", "callbacks.progress_bar=null", *extra])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    L.seed_everything(cfg.seed, workers=True)
    dm, module = build_datamodule(cfg), build_module(cfg)
    record = RecordLosses()
    callbacks = [*build_callbacks(cfg), record] + ([StopAt(stop_at)] if stop_at else [])
    trainer = build_trainer(cfg, callbacks)
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return module, dm, record.losses


@pytest.mark.slow
@pytest.mark.parametrize("flex", ["all", "none", "fd_shade"])
def test_resume_reproduces_uninterrupted_run(tmp_path, flex):
    extra = {
        "all": [],
        "none": ["flex.gap.enabled=false", "flex.ube.enabled=false", "flex.has.enabled=false"],
        # the reference regularizers: frozen ImageNet copy + SHADE base styles (refreshed at
        # steps 0, 2, 4: the resumed run restores step 2's styles and the Dirichlet generator)
        "fd_shade": ["model/feature_distance=things", "model/shade=reference", "model.shade.interval=2",
                     "model.shade.num_styles=8"],
    }[flex]
    straight, dm_straight, losses_straight = _run(tmp_path / "a", 6, extra=extra)
    _, _, losses_first = _run(tmp_path / "b", 6, stop_at=3, extra=extra)
    resumed, dm_resumed, losses_second = _run(tmp_path / "c", 6, ckpt_path=str(tmp_path / "b" / "checkpoints" / "last.ckpt"), extra=extra)
    assert losses_first + losses_second == losses_straight
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        if isinstance(a, dict):  # extra state (e.g. the GAP pixel-sampling generator)
            assert a.keys() == b.keys() and all(
                torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a), name
        else:
            assert torch.equal(a, b), name
    sa, sb = dm_straight.sampler.state_dict(), dm_resumed.sampler.state_dict()
    for key in sa:
        va, vb = sa[key], sb[key]
        assert (torch.equal(va, vb) if torch.is_tensor(va) else va == vb), key
