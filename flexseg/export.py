"""A self-contained checkpoint from a compact one: ``python -m flexseg.export ckpt_path=IN output=OUT``.

With ``model.tuning=frozen | lora | rein`` and ``model.pretrained=FILE``, training saves
compact checkpoints: the trained parameters plus FILE's path and SHA-256, not the frozen
backbone weights (README.md "Evaluate"). This writes OUT with every network weight (the
backbone rebuilt from the checkpoint's ``model.pretrained``, or ``model.pretrained=FILE``
given here, which must have the recorded SHA-256) and no ``flexseg_backbone`` record; it
evaluates with ``model.pretrained=null``, where the file is not available. The rest of IN
(config, optimizer and loop states) is kept; a full checkpoint is copied unchanged.
"""
from __future__ import annotations

import hydra
from omegaconf import DictConfig

from flexseg.checkpoint import export_checkpoint
from flexseg.utils.ckpt_config import apply_checkpoint_config
from flexseg.utils.conf_dir import CONFIG_PATH
from flexseg.utils.extras import apply_extras

__all__ = ["main"]


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="export")
def main(cfg: DictConfig) -> None:
    apply_checkpoint_config(cfg)  # the network (and its classes) it was trained with
    apply_extras(cfg)
    export_checkpoint(cfg)  # logs what it wrote: tensors, sizes


if __name__ == "__main__":
    from flexseg.utils.entry import run

    run(main)
