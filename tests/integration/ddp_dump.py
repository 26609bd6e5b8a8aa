"""Test helper callbacks for the DDP tests."""
from pathlib import Path

import lightning as L
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class DumpRankState(L.Callback):
    """Each rank writes its prototype bank, sampler state, initial and final weights and
    first-step gradients (after DDP's all-reduce) at fit end."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.first_grads: dict[str, torch.Tensor] = {}
        self.initial_weights: dict[str, torch.Tensor] = {}

    def on_fit_start(self, trainer, module) -> None:
        self.initial_weights = {k: v.detach().cpu().clone() for k, v in module.net.state_dict().items()}

    def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
        if trainer.global_step == 0 and not self.first_grads:
            self.first_grads = {n: p.grad.detach().cpu().clone() for n, p in module.net.named_parameters()
                                if p.grad is not None}

    def on_fit_end(self, trainer, module) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        state = {"sampler": trainer.datamodule.sampler.state_dict(), "world_size": trainer.world_size}
        bank = getattr(module.criterion, "bank", None)
        if bank is not None:
            state["prototypes"] = bank.prototypes.detach().cpu().clone()
            state["counts"] = bank.counts.detach().cpu().clone()
        state["weights"] = {k: v.detach().cpu().clone() for k, v in module.net.state_dict().items()}
        state["first_grads"] = self.first_grads
        state["initial_weights"] = self.initial_weights
        torch.save(state, self.dirpath / f"rank{trainer.global_rank}.pt")


class PerSampleDeterministic(L.Callback):
    """Puts BatchNorm (batch statistics are per process without SyncBatchNorm, which
    needs GPUs), dropout and drop-path (random masks drawn per process) in eval mode, so
    a DDP run and a single-process run of the same global batch compute the same thing."""

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        for m in module.modules():
            if isinstance(m, (_BatchNorm, nn.Dropout, nn.Dropout2d)) or type(m).__name__ == "DropPath":
                m.eval()
