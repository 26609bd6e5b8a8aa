"""Progress bar for step-based runs.

Lightning's :class:`~lightning.pytorch.callbacks.RichProgressBar` counts the batches of
one epoch and starts again at every epoch, and titles the bar ``Epoch e/max_epochs-1``
(``Epoch 0/-2`` when training is bounded by ``max_steps``, FlexSeg's default). When
training is bounded by ``trainer.max_steps`` (``max_epochs=-1``), :class:`StepProgressBar`
follows the whole run instead: ``global_step / max_steps`` with the ETA of the run,
titled ``Epoch e · max N steps``, continuing from the resumed step after a restart.
Epoch-bounded runs get Lightning's bar unchanged.
"""
from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar

__all__ = ["StepProgressBar"]


def _step_based(trainer: L.Trainer) -> bool:
    epochs_bounded = trainer.max_epochs is not None and trainer.max_epochs >= 0
    return not epochs_bounded and trainer.max_steps is not None and trainer.max_steps > 0


class StepProgressBar(RichProgressBar):
    """RichProgressBar whose training bar counts the steps of the whole run."""

    def _get_train_description(self, current_epoch: int) -> str:
        if not _step_based(self.trainer):
            return super()._get_train_description(current_epoch)
        text = f"Epoch {current_epoch} · max {self.trainer.max_steps} steps"
        return f"{text:{len(self.validation_description)}}"

    def _start_step_bar(self, trainer: L.Trainer) -> None:
        """One task for the run: total max_steps, at the current (resumed) step."""
        description = self._get_train_description(trainer.current_epoch)
        if self.train_progress_bar_id is None:
            self.train_progress_bar_id = self._add_task(trainer.max_steps, description)
            # reset: jump to a resumed step without counting it as speed in the ETA
            self.progress.reset(self.train_progress_bar_id, total=trainer.max_steps,
                                completed=trainer.global_step, description=description)
        else:
            self.progress.update(self.train_progress_bar_id, description=description, visible=True)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not _step_based(trainer):
            return super().on_train_epoch_start(trainer, pl_module)
        if self.is_disabled:
            return
        if self.progress is not None:
            self._start_step_bar(trainer)
        self.refresh()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not _step_based(trainer):
            return super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if not self.is_disabled and self.progress is not None and self.train_progress_bar_id is None:
            self._start_step_bar(trainer)  # resumed in the middle of an epoch
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
        self.refresh()
