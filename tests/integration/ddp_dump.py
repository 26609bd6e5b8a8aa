"""Test helper callback: each rank writes its prototype bank and sampler state at fit end."""
from pathlib import Path

import lightning as L
import torch


class DumpRankState(L.Callback):
    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_fit_end(self, trainer, module) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        state = {"sampler": trainer.datamodule.sampler.state_dict(), "world_size": trainer.world_size}
        bank = getattr(module.criterion, "bank", None)
        if bank is not None:
            state["prototypes"] = bank.prototypes.detach().cpu().clone()
            state["counts"] = bank.counts.detach().cpu().clone()
        state["weights"] = {k: v.detach().cpu().clone() for k, v in module.net.state_dict().items()}
        torch.save(state, self.dirpath / f"rank{trainer.global_rank}.pt")
