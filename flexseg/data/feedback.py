"""The loss feedback loop of the training batch sampler, as a Lightning callback.

The training step returns its per-image losses in its outputs (``{"loss": ...,
"per_image": Tensor[B]}``, detached) and knows nothing of the data side;
:class:`SamplerFeedback` hands them, with the batch's ``index``, to the datamodule's
:class:`~flexseg.data.samplers.LossFeedbackSampler` once per training step, and logs the
HAS statistics (``flex/has_threshold``, ``flex/has_hard_fraction``) when the sampler has
them. :func:`flexseg.build.build_trainer` always adds the callback, and
:meth:`~flexseg.data.datamodule.SegDataModule.setup` adds one to a trainer built without it
(and refuses two), so the feedback (and with it exact resume) cannot be lost. docs/has.md ("The feedback loop").
"""
from __future__ import annotations

from typing import Any, Mapping

import lightning as L

from flexseg.data.samplers import HardnessDiagnostics, LossFeedbackSampler, feed_back

__all__ = ["SamplerFeedback", "training_sampler", "require_feedback", "ensure_feedback", "add_feedback"]


def training_sampler(trainer: Any) -> LossFeedbackSampler | None:
    """The batch sampler of ``trainer.datamodule`` when it takes loss feedback, else None."""
    sampler = getattr(getattr(trainer, "datamodule", None), "sampler", None)
    return sampler if isinstance(sampler, LossFeedbackSampler) else None


def require_feedback(callbacks: list[Any]) -> None:
    """Raise unless ``callbacks`` holds exactly one :class:`SamplerFeedback`.

    Example:
        >>> require_feedback([SamplerFeedback()])
        >>> require_feedback([])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        RuntimeError: the training batch sampler needs its loss feedback, but the trainer has no SamplerFeedback ...
    """
    n = sum(isinstance(cb, SamplerFeedback) for cb in callbacks)
    if n == 0:
        raise RuntimeError(
            "the training batch sampler needs its loss feedback, but the trainer has no SamplerFeedback callback; "
            "build the trainer with flexseg.build.build_trainer, or add flexseg.data.feedback.SamplerFeedback() "
            "to its callbacks")
    if n > 1:
        raise RuntimeError(f"the trainer has {n} SamplerFeedback callbacks: the sampler would be fed back {n} "
                           "times per step; keep one")


def ensure_feedback(callbacks: list[Any]) -> bool:
    """Make ``callbacks`` (a trainer's list, changed in place) hold exactly one
    :class:`SamplerFeedback`: insert one first when there is none (before any checkpoint
    callback, so a checkpoint holds the step's update); two or more raise.

    Returns:
        True when a callback was added.

    Example:
        >>> cbs = []
        >>> ensure_feedback(cbs), ensure_feedback(cbs), len(cbs)
        (True, False, 1)
    """
    if add_feedback(callbacks):
        return True
    require_feedback(callbacks)
    return False


def add_feedback(callbacks: list[Any]) -> bool:
    """Insert a :class:`SamplerFeedback` first into ``callbacks`` (changed in place) when it
    holds none; True when one was added. Used by :func:`flexseg.build.build_trainer` and
    :func:`ensure_feedback`.

    Example:
        >>> cbs = [SamplerFeedback()]
        >>> add_feedback(cbs), add_feedback([])
        (False, True)
    """
    if any(isinstance(cb, SamplerFeedback) for cb in callbacks):
        return False
    callbacks.insert(0, SamplerFeedback())
    return True


class SamplerFeedback(L.Callback):
    """Feed each training step's per-image losses back to the training batch sampler.

    On every ``on_train_batch_end`` (every rank, before any checkpoint of that step is
    written: Lightning runs checkpoint callbacks last) it calls
    ``sampler.update(batch["index"], outputs["per_image"])`` through
    :func:`~flexseg.data.samplers.feed_back`; the sampler all-gathers the ranks' losses
    under DDP. A skipped step (the training step returned None, e.g. a non-finite loss
    with ``skip_nonfinite``) consumes no feedback and logs nothing. A step whose outputs
    lack ``per_image`` raises: its feedback would be lost.

    Then it logs, for a :class:`~flexseg.data.samplers.HardnessDiagnostics` sampler,
    ``flex/has_threshold`` and ``flex/has_hard_fraction`` (per step, batch size B).

    Example:
        >>> import torch
        >>> from types import SimpleNamespace
        >>> from flexseg.flex.has import HardnessAwareSampler
        >>> sampler = HardnessAwareSampler(4, 2)
        >>> trainer = SimpleNamespace(datamodule=SimpleNamespace(sampler=sampler))
        >>> logged = {}
        >>> module = SimpleNamespace(log=lambda name, value, **kw: logged.update({name: value}))
        >>> batch = {"index": torch.tensor([0, 2])}
        >>> SamplerFeedback().on_train_batch_end(trainer, module, {"loss": 1.0, "per_image": torch.tensor([1.0, 3.0])},
        ...                                      batch, 0)
        >>> sampler.h.tolist(), logged
        ([1.0, 0.0, 3.0, 0.0], {'flex/has_threshold': 0.9241418199787566, 'flex/has_hard_fraction': 0.0})
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        sampler = training_sampler(trainer)
        if sampler is None or outputs is None or (isinstance(outputs, Mapping) and not outputs):
            return  # no feedback sampler, or a skipped step
        per_image = outputs.get("per_image") if isinstance(outputs, Mapping) else None
        if per_image is None:
            raise RuntimeError(
                "the training step's outputs hold no 'per_image' losses, so the batch sampler's feedback would be "
                "lost; return {'loss': loss, 'per_image': per_image_losses.detach()} from training_step")
        feed_back(sampler, batch["index"], per_image)
        if isinstance(sampler, HardnessDiagnostics):
            bs = len(batch["index"])
            pl_module.log("flex/has_threshold", float(sampler.threshold()), batch_size=bs)
            pl_module.log("flex/has_hard_fraction", float(sampler.hard_fraction), batch_size=bs)
