"""Progress bar for step-based runs.

Lightning's :class:`~lightning.pytorch.callbacks.RichProgressBar` titles the training bar
``Epoch e/max_epochs-1``, which reads ``Epoch 0/-2`` when training is bounded by
``max_steps`` (``max_epochs=-1``, FlexSeg's default). :class:`StepProgressBar` titles it
``Epoch e · max N steps`` instead and is otherwise the same bar.
"""
from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar

__all__ = ["StepProgressBar"]


class StepProgressBar(RichProgressBar):
    """RichProgressBar whose title names the step budget of step-based runs."""

    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        if trainer.max_epochs is not None and trainer.max_epochs >= 0:
            return super()._get_train_description(current_epoch)
        text = f"Epoch {current_epoch}"
        if trainer.max_steps is not None and trainer.max_steps > 0:
            text += f" · max {trainer.max_steps} steps"
        return f"{text:{len(self.validation_description)}}"
