"""A network, or the whole SegModule, from a checkpoint file.

The commands that test a trained model (``flexseg.eval``, ``flexseg.analyze``,
``flexseg.predict``) build the model of the config and overwrite its weights with those of
``ckpt_path``: a FlexSeg Lightning checkpoint (``net.*`` keys) or a published mmseg
DAFormer / HRDA / DGInStyle one (docs/design.md §2, :mod:`flexseg.models.weights`).

A *compact* checkpoint (``model.tuning=frozen | lora | rein`` with ``model.pretrained``:
the frozen backbone weights left out, the file's path and SHA-256 recorded under
``flexseg_backbone``) is rebuilt from that file: ``model.pretrained`` of the checkpoint's
config (or the command line) is kept, the file must have the recorded SHA-256.
:func:`export_checkpoint` (``python -m flexseg.export``) writes a self-contained copy.
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, open_dict

from flexseg.build import build_module
from flexseg.models.weights import BACKBONE_RECORD, BackboneFileMismatchError, WeightsMismatchError, describe_backbone_record
from flexseg.module import SegModule

__all__ = ["EXPORT_RECORD", "build_module_from_checkpoint", "export_checkpoint", "load_network_weights", "read_backbone_record"]

#: entry of an exported checkpoint: ``{"source": compact checkpoint, "backbone": its backbone record}``
EXPORT_RECORD = "flexseg_exported"

log = logging.getLogger(__name__)


def load_network_weights(net: torch.nn.Module, path: str | Path) -> str:
    """Load a checkpoint's network weights into ``net``.

    Args:
        net: the segmentation network (``SegModule.net``).
        path: a FlexSeg Lightning checkpoint or an mmseg checkpoint.

    Returns:
        The detected kind of checkpoint: ``"lightning"`` or ``"mmseg"``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        flexseg.models.weights.WeightsMismatchError: the weights do not fit ``net`` (the
            mismatched keys are listed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        from flexseg.models.weights import load_any_checkpoint
    except ImportError:  # pragma: no cover - weights module absent
        load_any_checkpoint = None
    if load_any_checkpoint is not None:
        return load_any_checkpoint(net, path)
    state = torch.load(path, map_location="cpu", weights_only=False)
    sd = {k[len("net."):]: v for k, v in state["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(sd, strict=True)
    return "lightning"


def _top_level(path: Path) -> Any:
    """The checkpoint's top-level object, its tensors memory-mapped (not read)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except RuntimeError:  # legacy (non-zip) format
        return torch.load(path, map_location="cpu", weights_only=False)


def read_backbone_record(path: str | Path) -> dict[str, Any] | None:
    """The ``flexseg_backbone`` record of a compact checkpoint (``{"path", "sha256",
    "excluded", "encoder", "tuning"}``); None for a full checkpoint, an mmseg file or a
    file that is not a checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = _top_level(path)
    except Exception:  # not a torch file: load_network_weights says what it is
        return None
    record = state.get(BACKBONE_RECORD) if isinstance(state, Mapping) else None
    return dict(record) if isinstance(record, Mapping) else None


def _keep_backbone_file(cfg: DictConfig, record: Mapping[str, Any]) -> str:
    """Set ``cfg.model.pretrained`` for a compact checkpoint: the config's value (the
    checkpoint's stored config or the command line), else the recorded path; returns it.

    Raises:
        FileNotFoundError: no such file (names the recorded path and ``model.pretrained=PATH``).
    """
    recorded = str(record.get("path"))
    if "pretrained" not in cfg.model:  # not a pretrained-backbone model: the weight check names the problem
        return recorded
    configured = cfg.model.get("pretrained")
    path = str(configured) if configured else recorded
    with open_dict(cfg):
        cfg.model.pretrained = path
    if not Path(path).is_file():
        where = "recorded there" if path == recorded else f"recorded as '{recorded}'"
        raise FileNotFoundError(
            f"backbone weights file not found: '{path}' (model.pretrained). {cfg.ckpt_path} is a compact checkpoint: it "
            f"stores the trained parameters and rebuilds {describe_backbone_record(record)} from the weights file it was "
            f"trained with, {where} (sha256 {record.get('sha256')}). Put that file at '{path}', or pass "
            f"model.pretrained=PATH to point at it (any copy with that SHA-256); `python -m flexseg.export "
            f"ckpt_path={cfg.ckpt_path} output=OUT model.pretrained=PATH` writes a self-contained checkpoint that needs "
            f"no file.")
    return path


def _cause(err: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``err`` or the first exception of its ``__cause__`` / ``__context__`` chain that is a ``kind``."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def build_module_from_checkpoint(cfg: DictConfig) -> SegModule:
    """SegModule of the model config with the network weights of ``cfg.ckpt_path``.

    For a full checkpoint ``model.pretrained`` is not read (set to None in ``cfg``): the
    checkpoint overwrites every weight, so no encoder file is needed. For a compact one
    (:func:`read_backbone_record`) it is kept (the recorded path if the config has none):
    the network loads its frozen backbone from that file, whose SHA-256 must be the
    recorded one, and the checkpoint's tensors fill the rest (strict key check).

    Args:
        cfg: a composed ``eval`` / ``analyze`` / ``predict`` config with ``ckpt_path``.

    Returns:
        The module (train mode, on the CPU).

    Raises:
        FileNotFoundError: no checkpoint, or the backbone file of a compact one is missing.
        flexseg.models.weights.BackboneFileMismatchError: the backbone file differs from
            the recorded one (both paths and SHA-256 named).
        flexseg.models.weights.WeightsMismatchError: the weights do not fit the network.
    """
    record = read_backbone_record(cfg.ckpt_path)
    if record is None:
        if cfg.model.get("pretrained"):
            with open_dict(cfg):
                cfg.model.pretrained = None
        module = build_module(cfg)
    else:
        path = _keep_backbone_file(cfg, record)
        try:
            module = build_module(cfg)
        except Exception as err:
            cause = _cause(err, WeightsMismatchError)  # Hydra wraps it in an InstantiationException
            if cause is None:
                raise
            from flexseg.models.vit_weights import sha256_file  # the file does not even fit the network

            given = sha256_file(path) if Path(path).is_file() else "? (no such file)"
            raise BackboneFileMismatchError(
                f"{cause}\n  {cfg.ckpt_path} was trained with the backbone weights file '{record.get('path')}' (sha256 "
                f"{record.get('sha256')}); model.pretrained='{path}' has sha256 {given}: point model.pretrained=PATH at "
                f"the file it was trained with.") from err
    kind = load_network_weights(module.net, cfg.ckpt_path)
    log.info("loaded %s checkpoint %s%s", kind, cfg.ckpt_path,
             f" (compact; backbone from {cfg.model.pretrained})" if record is not None else "")
    return module


def export_checkpoint(cfg: DictConfig) -> dict[str, Any]:
    """Write ``cfg.ckpt_path`` as a self-contained checkpoint at ``cfg.output``: every
    network weight (the frozen backbone rebuilt from ``model.pretrained`` and checked as
    :func:`build_module_from_checkpoint` does), no ``flexseg_backbone`` record; the rest
    (config, optimizer and loop states, RNG) unchanged, the record kept as
    ``flexseg_exported.backbone``. It evaluates with ``model.pretrained=null``. A checkpoint
    that is already full is copied unchanged.

    Args:
        cfg: a composed ``export`` config (``conf/export.yaml``) with ``ckpt_path`` and
            ``output``, the checkpoint's model config applied.

    Returns:
        ``{"output", "source", "filled" (tensors put back), "tensors" (network tensors),
        "bytes" (size of output), "source_bytes"}``.

    Raises:
        ValueError: ``output`` is the input file.
        FileNotFoundError, BackboneFileMismatchError: as :func:`build_module_from_checkpoint`.
    """
    source, output = Path(str(cfg.ckpt_path)), Path(str(cfg.output))
    if not source.is_file():
        raise FileNotFoundError(f"ckpt_path={source} does not exist")
    if output.resolve() == source.resolve():
        raise ValueError(f"output={output} is the input checkpoint: write the self-contained copy to another file")
    output.parent.mkdir(parents=True, exist_ok=True)
    state = torch.load(source, map_location="cpu", weights_only=False)
    record = state.get(BACKBONE_RECORD) if isinstance(state, Mapping) else None
    filled = 0
    if record is None:
        shutil.copyfile(source, output)
        log.info("%s holds every weight already (no %s record): copied unchanged", source, BACKBONE_RECORD)
    else:
        module = build_module_from_checkpoint(cfg)  # checks the file; the network holds every weight now
        stored = state["state_dict"]
        full = {f"net.{k}": v for k, v in module.net.state_dict().items()}
        filled = sum(k not in stored for k in full)
        order = [k for k in module.state_dict() if k in stored or k in full]  # the module's key order
        state["state_dict"] = {**{k: stored.get(k, full.get(k)) for k in order}, **stored}
        del state[BACKBONE_RECORD]
        state[EXPORT_RECORD] = {"source": str(source), "backbone": dict(record)}
        torch.save(state, output)
    tensors = sum(1 for k in (state.get("state_dict") or {}) if k.startswith("net.")) if isinstance(state, Mapping) else 0
    info = {"output": str(output), "source": str(source), "filled": filled, "tensors": tensors,
            "bytes": output.stat().st_size, "source_bytes": source.stat().st_size}
    log.info("wrote %s: %d network tensors (%d from the backbone file), %.1f MB (the compact checkpoint: %.1f MB)",
             output, tensors, filled, info["bytes"] / 1e6, info["source_bytes"] / 1e6)
    return info
