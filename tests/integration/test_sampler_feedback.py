"""The loss feedback reaches the batch sampler in a real fit whatever the callbacks config,
and a trainer built without the feedback callback gets it (two are refused)."""
import math

import lightning as L
import pandas as pd
import pytest

from flexseg.build import build_callbacks, build_datamodule, build_loggers, build_module, build_trainer
from flexseg.data.feedback import SamplerFeedback
from tests.integration.test_train import _cfg  # the tiny synthdrive run (trainer=debug) writing under tmp_path


def test_callbacks_none_still_feeds_the_has_sampler_and_logs_it(tmp_path):
    cfg = _cfg(tmp_path, ["callbacks=none"])  # trainer=debug: 2 steps, a CSV row per step
    assert build_callbacks(cfg) == []
    L.seed_everything(cfg.seed, workers=True)
    dm, module = build_datamodule(cfg), build_module(cfg)
    trainer = build_trainer(cfg, build_callbacks(cfg), build_loggers(cfg))
    assert sum(isinstance(cb, SamplerFeedback) for cb in trainer.callbacks) == 1
    seen_losses = []

    class Spy(L.Callback):  # what the training step handed over, in order
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            seen_losses.append((batch["index"].tolist(), outputs["per_image"].tolist()))

    trainer.callbacks.append(Spy())
    trainer.fit(module, datamodule=dm)
    s = dm.sampler
    assert s.step == 2 and not s.pending
    h = {}
    for indices, losses in seen_losses:  # reference EMA with ema 0.9, first observation sets h
        for i, v in zip(indices, losses):
            h[i] = v if i not in h else 0.9 * h[i] + 0.1 * v
    assert sorted(h) == s.seen.nonzero().flatten().tolist()
    assert all(s.h[i].item() == pytest.approx(v, rel=1e-12) for i, v in h.items())
    metrics = pd.read_csv(tmp_path / "csv" / "metrics.csv").dropna(subset=["flex/has_threshold"])
    assert metrics["step"].tolist() == [0, 1]
    # logged after each step's feedback: progress 50 % then 100 % of max_steps=2 (sigmoid, k 0.05)
    assert metrics["flex/has_threshold"].tolist() == pytest.approx([0.5, 1 / (1 + math.exp(2.5))], rel=1e-6)
    assert metrics["flex/has_hard_fraction"].iloc[-1] == pytest.approx(s.hard_fraction, rel=1e-6)  # nothing drawn since


def test_a_plain_trainer_gets_the_feedback_callback_and_two_are_refused(tmp_path):
    cfg = _cfg(tmp_path)
    dm, module = build_datamodule(cfg), build_module(cfg)
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        use_distributed_sampler=False, accelerator="cpu")
    assert not any(isinstance(cb, SamplerFeedback) for cb in trainer.callbacks)
    trainer.fit(module, datamodule=dm)
    assert isinstance(trainer.callbacks[0], SamplerFeedback)
    assert sum(isinstance(cb, SamplerFeedback) for cb in trainer.callbacks) == 1
    assert dm.sampler.step == 1 and int(dm.sampler.seen.sum()) == cfg.data.batch_size  # the step's losses arrived
    dm, module = build_datamodule(cfg), build_module(cfg)
    trainer = build_trainer(cfg, [SamplerFeedback(), SamplerFeedback()])
    with pytest.raises(RuntimeError, match="2 SamplerFeedback callbacks"):
        trainer.fit(module, datamodule=dm)
    assert dm.sampler.yield_pos == 0 and all(p.grad is None for p in module.parameters())
