"""Loading and saving weights: SegFormer ImageNet encoders, mmseg (DAFormer / HRDA /
DGInStyle) checkpoints, FlexSeg Lightning checkpoints (full, or compact: the frozen weights
of a pretrained backbone file left out, :func:`compact_state_dict`). Nothing is ever downloaded.

Name maps (docs/design.md §2):

* SegFormer ImageNet file (``mit_b5.pth``): a plain state dict (or ``{"state_dict": …}``)
  with ``patch_embed1.*``, ``block1.0.*``, ``norm1.*`` … (+ an ignored ``head.*``) —
  exactly the keys of ``MiTEncoder.mit``.
* mmseg checkpoint: ``{"meta", "state_dict", "optimizer"}``; UDA runs prefix the keys with
  ``model.`` / ``ema_model.`` / ``imnet_model.``. ``backbone.X`` ↔ our
  ``backbone.mit.X``; ``decode_head.X`` ↔ our ``decode_head.X`` (DAFormer:
  ``embed_layers``, ``fuse_layer``, ``conv_seg``; HRDA: ``decode_head.head.*`` and
  ``decode_head.scale_attention.*``). ``backbone.style_hallucination.*`` (DGInStyle
  SHADE runs) is ignored. Our HRDA's ``crop_step`` buffer has no mmseg counterpart.

Prefix choice (``prefix="auto"``): unprefixed ``backbone.``/``decode_head.`` keys when
present, else ``model.`` (the network DAFormer/HRDA/DGInStyle evaluate: their test hooks
run the student ``model``, not the EMA teacher), else ``ema_model.``. Pass
``prefix="ema_model."`` (or ``"imnet_model."``) to pick another copy.

Files are read with ``torch.load(weights_only=True)``; if that refuses (Lightning
hyper-parameters, pickled metadata) the file is unpickled fully — load only trusted files.
"""
from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from flexseg.models.encoders import MiTEncoder

log = logging.getLogger(__name__)

MMSEG_PREFIXES = ("model.", "ema_model.", "imnet_model.")
MMSEG_IGNORED = ("backbone.style_hallucination.",)
#: training-only state of the reference regularizers (frozen ImageNet copy, SHADE base
#: styles): not needed for inference, so loading a checkpoint for evaluation ignores it on
#: both sides (a run trained with them evaluates with a plain model config and vice versa)
TRAINING_ONLY = ("fd_encoder.", "backbone.style_hallucination.")
_MAX_LISTED = 20


class WeightsMismatchError(RuntimeError):
    """A checkpoint's keys or shapes do not match the network."""


# --------------------------------------------------------------------------- files
def load_file(path: str | Path) -> Any:
    """``torch.load`` on CPU; safe (``weights_only``) first, full unpickling as fallback.

    Args:
        path: the file.

    Returns:
        The loaded object (a state dict, an mmseg or a Lightning checkpoint dict).

    Raises:
        FileNotFoundError: no such file.
        RuntimeError: the pickle needs a module that is not installed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: '{path}'")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as err:
        raise RuntimeError(
            f"cannot unpickle '{path}': it needs the module {err.name!r}. Re-save only its "
            f"state dict (torch.save(ckpt['state_dict'], ...)) where that module is installed."
        ) from err


def _state_dict_of(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """The tensor state dict inside a loaded file (plain, or under ``state_dict``)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsMismatchError(f"{source}: no state dict found (got {type(obj).__name__})")
    return {str(k): v for k, v in obj.items() if torch.is_tensor(v)}


def _listing(title: str, items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = f", … and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"\n  {title} ({len(items)}): {shown}{more}"


def mismatch_listing(missing: list[str], unexpected: list[str], mismatched: list[str]) -> str:
    """The lines of a key-mismatch message: missing, unexpected and mis-shaped keys (each
    list truncated to its first entries), empty lists left out."""
    msg = ""
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if items:
            msg += _listing(title, items)
    return msg


def check_state_dict(
    given: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    what: str,
    optional: tuple[str, ...] = ("num_batches_tracked",),
    hint: str = "",
) -> None:
    """Raise :class:`WeightsMismatchError` listing missing / unexpected / mis-shaped keys.

    Args:
        given: the checkpoint's tensors.
        expected: the network's tensors (names and shapes to match).
        what: names the checkpoint in the message.
        optional: expected keys ending with one of these may be missing.
        hint: appended to the message.

    Raises:
        WeightsMismatchError: any missing, unexpected or mis-shaped key (all listed).

    Example:
        >>> model = {"w": torch.zeros(2, 3), "bn.num_batches_tracked": torch.zeros(())}
        >>> check_state_dict({"w": torch.ones(2, 3)}, model, "ckpt")  # optional key absent: fine
        >>> check_state_dict({"w": torch.ones(3, 2), "x": torch.ones(1)}, model, "ckpt")
        Traceback (most recent call last):
        ...
        flexseg.models.weights.WeightsMismatchError: ckpt does not match the network:
          unexpected keys (1): x
          shape mismatches (1): w: checkpoint [3, 2] vs model [2, 3]
    """
    missing = sorted(k for k in expected if k not in given and not k.endswith(optional))
    unexpected = sorted(k for k in given if k not in expected)
    mismatched = sorted(
        f"{k}: checkpoint {list(given[k].shape)} vs model {list(expected[k].shape)}"
        for k in given
        if k in expected and given[k].shape != expected[k].shape
    )
    if not (missing or unexpected or mismatched):
        return
    msg = f"{what} does not match the network:" + mismatch_listing(missing, unexpected, mismatched)
    if hint:
        msg += f"\n  hint: {hint}"
    raise WeightsMismatchError(msg)


def _copy_into(module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Checked copy (keys already validated); absent optional buffers keep their values."""
    current = nn.Module.state_dict(module)
    merged = {k: state.get(k, v) for k, v in current.items()}
    nn.Module.load_state_dict(module, merged, strict=True)


# ----------------------------------------------------------------- SegFormer encoder
def _pretrained_hint(encoder: MiTEncoder) -> str:
    name = encoder.name
    return (
        f"FlexSeg never downloads weights: get SegFormer's ImageNet-1k weights for {name} "
        f"('{name}.pth', released by NVlabs/SegFormer; the file DAFormer/HRDA/DGInStyle use as "
        f"pretrained/{name}.pth), put it at data/pretrained/{name}.pth or set "
        f"model.pretrained=/path/to/{name}.pth (model.pretrained=null trains from scratch)."
    )


def load_pretrained_encoder(encoder: MiTEncoder, path: str | Path) -> None:
    """Load a SegFormer ImageNet checkpoint (``mit_b*.pth``) into ``encoder``.

    Accepts a plain state dict or ``{"state_dict": …}``, keys ``patch_embed1.*``,
    ``block1.*``, ``norm1.*`` … (optionally prefixed ``module.``); ``head.*`` is ignored.

    Args:
        encoder: the encoder to fill (``encoder.mit``, in place).
        path: the ``mit_b*.pth`` file.

    Raises:
        FileNotFoundError: no such file (the message says how to obtain it).
        WeightsMismatchError: keys or shapes differ (another MiT variant, an mmseg file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained encoder weights not found: '{path}'. {_pretrained_hint(encoder)}")
    state = _state_dict_of(load_file(path), f"'{path}'")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    expected = encoder.segformer_state_dict()
    hint = ""
    if any(k.startswith(("backbone.", "decode_head.", "model.")) for k in state):
        hint = "this looks like an mmseg segmentation checkpoint: use load_mmseg_checkpoint / ckpt_path= instead"
    else:
        blocks = {".".join(k.split(".")[:2]) for k in state if k.startswith("block")}
        wanted = {".".join(k.split(".")[:2]) for k in expected if k.startswith("block")}
        if blocks and blocks != wanted:
            hint = f"the file is for another MiT variant ({len(blocks)} blocks; {encoder.name} has {len(wanted)})"
    check_state_dict(state, expected, f"SegFormer encoder weights '{path}' for {encoder.name}", hint=hint)
    _copy_into(encoder.mit, state)


def save_segformer_encoder(encoder: MiTEncoder, path: str | Path) -> None:
    """Save ``encoder`` under the SegFormer ImageNet names (plain state dict)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu().clone() for k, v in encoder.segformer_state_dict().items()}, path)


# ---------------------------------------------------------------------------- mmseg
def mmseg_key(key: str) -> str | None:
    """Our state-dict key → mmseg name (``None`` for keys without counterpart).

    Example:
        >>> mmseg_key("backbone.mit.block1.0.attn.q.weight"), mmseg_key("decode_head.conv_seg.bias")
        ('backbone.block1.0.attn.q.weight', 'decode_head.conv_seg.bias')
        >>> mmseg_key("crop_step") is None
        True
    """
    if key.startswith("backbone.mit."):
        return "backbone." + key[len("backbone.mit."):]
    if key.startswith("decode_head."):
        return key
    return None


def mmseg_state_dict(net: nn.Module) -> dict[str, torch.Tensor]:
    """``net``'s tensors under mmseg names (DAFormer / HRDA); keys without counterpart
    (:func:`mmseg_key` None) are left out."""
    out = {}
    for key, value in net.state_dict().items():
        name = mmseg_key(key)
        if name is not None:
            out[name] = value
    return out


def _select_prefix(state: Mapping[str, torch.Tensor], prefix: str, source: str) -> tuple[dict, str]:
    found = sorted({p for p in MMSEG_PREFIXES if any(k.startswith(p) for k in state)})
    if prefix == "auto":
        if any(k.startswith(("backbone.", "decode_head.")) for k in state):
            prefix = ""
        elif found:
            prefix = "model." if "model." in found else ("ema_model." if "ema_model." in found else found[0])
        else:
            firsts = ", ".join(list(state)[:5])
            raise WeightsMismatchError(
                f"{source}: not an mmseg segmentation checkpoint (no backbone./decode_head./model. keys; "
                f"first keys: {firsts})"
            )
    selected = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if prefix == "":
        selected = {k: v for k, v in selected.items() if not k.startswith(MMSEG_PREFIXES)}
    if not selected:
        raise WeightsMismatchError(f"{source}: no keys with prefix {prefix!r}; prefixes present: {found or ['(none)']}")
    return selected, prefix


def _mmseg_hint(given: Mapping[str, Any], expected: Mapping[str, Any]) -> str:
    hints = []
    g_hrda = any(k.startswith("decode_head.head.") for k in given)
    e_hrda = any(k.startswith("decode_head.head.") for k in expected)
    if g_hrda and not e_hrda:
        hints.append("the checkpoint is an HRDA model: use model=hrda_mitb5")
    if e_hrda and not g_hrda and any(k.startswith("decode_head.") for k in given):
        hints.append("the checkpoint is a DAFormer (single-scale) model: use model=daformer_mitb5")
    g_blocks = {k.split(".")[1] + "." + k.split(".")[2] for k in given if k.startswith("backbone.block")}
    e_blocks = {k.split(".")[1] + "." + k.split(".")[2] for k in expected if k.startswith("backbone.block")}
    if g_blocks and g_blocks != e_blocks:
        hints.append(f"encoder depth differs ({len(g_blocks)} blocks in the checkpoint, {len(e_blocks)} in the model)")
    for k in given:
        if k.endswith("conv_seg.weight") and k in expected and given[k].shape[0] != expected[k].shape[0]:
            hints.append(f"num_classes differs ({given[k].shape[0]} in the checkpoint)")
            break
    return "; ".join(hints)


def load_mmseg_checkpoint(
    net: nn.Module, path_or_state: str | Path | Mapping[str, Any], prefix: str = "auto"
) -> dict[str, Any]:
    """Load a published mmseg DAFormer / HRDA / DGInStyle checkpoint into ``net``.

    Args:
        net: :class:`~flexseg.models.daformer.DAFormer` or :class:`~flexseg.models.hrda.HRDA`.
        path_or_state: file, or an already loaded checkpoint / state dict.
        prefix: ``"auto"`` (see module doc), ``""``, ``"model."``, ``"ema_model."``,
            ``"imnet_model."``.

    Returns:
        ``{"prefix", "loaded", "ignored"}``: the prefix used, the number of tensors loaded,
        the checkpoint keys ignored.

    Raises:
        FileNotFoundError: no such file.
        WeightsMismatchError: listing every missing, unexpected or mis-shaped key.

    Example:
        >>> from flexseg.models.daformer import DAFormer
        >>> a, b = DAFormer("mit_b0", num_classes=2, embed_dim=8), DAFormer("mit_b0", num_classes=2, embed_dim=8)
        >>> ckpt = {"state_dict": {"model." + k: v for k, v in mmseg_state_dict(a).items()}}
        >>> info = load_mmseg_checkpoint(b, ckpt)
        >>> info["prefix"], torch.equal(a.decode_head.conv_seg.weight, b.decode_head.conv_seg.weight)
        ('model.', True)
    """
    if isinstance(path_or_state, (str, Path)):
        source = f"mmseg checkpoint '{path_or_state}'"
        obj = load_file(path_or_state)
    else:
        source, obj = "mmseg checkpoint", path_or_state
    full = _state_dict_of(obj, source)
    state, prefix = _select_prefix(full, prefix, source)
    ignored = sorted(k for k in state if k.startswith(MMSEG_IGNORED))
    state = {k: v for k, v in state.items() if not k.startswith(MMSEG_IGNORED)}
    ours = net.state_dict()
    to_ours = {mmseg_key(k): k for k in ours if mmseg_key(k) is not None}
    expected = {m: ours[k] for m, k in to_ours.items()}
    what = f"{source} (prefix {prefix!r})"
    check_state_dict(state, expected, what, hint=_mmseg_hint(state, expected))
    mapped = {to_ours[m]: v for m, v in state.items()}
    _copy_into(net, mapped)
    ignored += sorted(k for k in full if not k.startswith(prefix) or (not prefix and k.startswith(MMSEG_PREFIXES)))
    return {"prefix": prefix, "loaded": len(mapped), "ignored": ignored}


def save_mmseg_checkpoint(
    net: nn.Module, path: str | Path, prefix: str = "", meta: Mapping[str, Any] | None = None
) -> None:
    """Save ``net`` as an mmseg checkpoint ``{"meta", "state_dict"}``.

    Args:
        net: the network.
        path: the file (parent folders are created).
        prefix: prepended to every mmseg name (``"model."`` for a UDA-style file).
        meta: stored under ``meta`` (default ``{"source": "flexseg"}``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {prefix + k: v.detach().cpu().clone() for k, v in mmseg_state_dict(net).items()}
    torch.save({"meta": dict(meta or {"source": "flexseg"}), "state_dict": state}, path)


# ------------------------------------------------------------- compact checkpoints
#: checkpoint entry of a compact checkpoint: the backbone file its left-out weights come from
#: (``{"path", "sha256", "excluded", "encoder", "tuning"}``, plain values; README.md "Evaluate")
BACKBONE_RECORD = "flexseg_backbone"


class BackboneFileMismatchError(WeightsMismatchError):
    """A compact checkpoint's backbone weights file and the network's differ (SHA-256), or
    the network loads no backbone file at all."""


def backbone_file_of(net: nn.Module) -> tuple[dict[str, str] | None, list[str]]:
    """``(net.backbone_file(), net.checkpoint_excluded_keys())`` of a network with a
    pretrained backbone (:class:`~flexseg.models.base.SupportsPretrainedBackbone`);
    ``(None, [])`` when it has no such members or its checkpoints hold every weight."""
    file_fn, keys_fn = getattr(net, "backbone_file", None), getattr(net, "checkpoint_excluded_keys", None)
    if not (callable(file_fn) and callable(keys_fn)):
        return None, []
    info = file_fn()
    return (dict(info), list(keys_fn())) if info is not None else (None, [])


def compact_state_dict(state: dict[str, torch.Tensor], net: nn.Module, prefix: str = "net.") -> dict[str, Any] | None:
    """Leave the frozen backbone weights out of a checkpoint's state dict (in place).

    Args:
        state: the checkpoint's ``state_dict`` (the network's keys under ``prefix``).
        net: the network (:func:`backbone_file_of`).
        prefix: the network's key prefix in ``state``.

    Returns:
        The record to store under :data:`BACKBONE_RECORD` — ``{"path", "sha256"}`` of the
        backbone file, ``"excluded"`` (number of keys left out), ``"encoder"``, ``"tuning"``
        — or None (nothing left out: no pretrained file, or ``tuning=full``; or the file can
        no longer be read to hash it: a full checkpoint then, rather than none).
    """
    try:
        info, excluded = backbone_file_of(net)
    except OSError as err:  # the file was moved or deleted since it was loaded
        log.warning("cannot hash the backbone weights file (%s): this checkpoint holds every weight", err)
        return None
    if info is None:
        return None
    dropped = sum(state.pop(prefix + k, None) is not None for k in excluded)
    encoder = getattr(getattr(net, "backbone", None), "encoder", None)
    tuning = getattr(net, "tuning", None)
    return {"path": str(info["path"]), "sha256": str(info["sha256"]), "excluded": int(dropped),
            "encoder": None if encoder is None else str(encoder), "tuning": None if tuning is None else str(tuning)}


def describe_backbone_record(record: Mapping[str, Any]) -> str:
    """``"the 62 frozen backbone tensors of vit_small_patch14_dinov2 (model.tuning=rein)"``."""
    what = f"the {record.get('excluded', '?')} frozen backbone tensors"
    if record.get("encoder"):
        what += f" of {record['encoder']}"
    return what + (f" (model.tuning={record['tuning']})" if record.get("tuning") else "")


def restore_excluded_weights(state: dict[str, torch.Tensor], net: nn.Module, record: Mapping[str, Any], source: str,
                             prefix: str = "net.") -> int:
    """Put ``net``'s own tensors back into a compact checkpoint's state dict (in place), for
    the keys it left out, after checking that ``net`` loaded the same backbone file.

    Args:
        state: the checkpoint's ``state_dict`` (the network's keys under ``prefix``).
        net: the rebuilt network (its backbone loaded from ``model.pretrained``).
        record: the checkpoint's :data:`BACKBONE_RECORD` (:func:`compact_state_dict`).
        source: names the checkpoint in messages (``"checkpoint 'last.ckpt'"``).
        prefix: the network's key prefix in ``state``.

    Returns:
        The number of tensors put back.

    Raises:
        BackboneFileMismatchError: ``net`` loads no backbone file (``model.pretrained=null``
            or ``model.tuning=full``), or one with another SHA-256 than the record's (both
            paths and hashes named).
    """
    info, excluded = backbone_file_of(net)
    recorded = f"'{record.get('path')}' (sha256 {record.get('sha256')})"
    if info is None:
        raise BackboneFileMismatchError(
            f"{source} is a compact checkpoint: it leaves out {describe_backbone_record(record)}, which come from the "
            f"weights file {recorded}. This network loads no backbone file (model.pretrained is null, model.tuning=full, "
            f"or another model): set model.pretrained=PATH to that file (and the checkpoint's model config), or use a "
            f"self-contained checkpoint written by `python -m flexseg.export ckpt_path=... output=...`.")
    if info["sha256"] != record.get("sha256"):
        raise BackboneFileMismatchError(
            f"{source} was trained with the backbone weights file '{record.get('path')}' (sha256 {record.get('sha256')}), "
            f"but model.pretrained='{info['path']}' has sha256 {info['sha256']}: another file (another model or release, "
            f"or a modified copy). A compact checkpoint stores only the trained parameters and rebuilds "
            f"{describe_backbone_record(record)} from the file it was trained with: point model.pretrained=PATH at the "
            f"file with sha256 {record.get('sha256')} (model.pretrained={record.get('path')} if it is still there).")
    own = net.state_dict()
    filled = 0
    for key in excluded:
        if prefix + key not in state:  # what the checkpoint does store wins
            state[prefix + key] = own[key]
            filled += 1
    return filled


# ----------------------------------------------------------------------- any format
def load_any_checkpoint(net: nn.Module, path: str | Path, lightning_prefix: str = "net.") -> str:
    """Load ``path`` into ``net``, detecting the format; returns ``"lightning"`` or ``"mmseg"``.

    * Lightning (FlexSeg): ``state_dict`` keys ``net.*`` (``net._orig_mod.*`` from
      ``torch.compile`` accepted); other keys (criterion, prototype bank) and the
      training-only ``TRAINING_ONLY`` state (FD copy, SHADE styles) are skipped. A compact
      checkpoint (:data:`BACKBONE_RECORD`: frozen backbone left out) takes the left-out
      tensors from ``net``, which must have loaded the same backbone file
      (:func:`restore_excluded_weights`); every other key is still checked strictly.
    * mmseg: keys ``backbone.``/``decode_head.`` or prefixed ``model.``/``ema_model.`` —
      :func:`load_mmseg_checkpoint` with ``prefix="auto"``.
    A SegFormer ImageNet file (encoder only) is refused: use ``model.pretrained=``.

    Args:
        net: the network (filled in place).
        path: the checkpoint file.
        lightning_prefix: the network's key prefix in a Lightning checkpoint.

    Returns:
        The format found: ``"lightning"`` or ``"mmseg"``.

    Raises:
        FileNotFoundError: no such file.
        WeightsMismatchError: keys or shapes differ, an encoder-only or an unknown file.
        BackboneFileMismatchError: a compact checkpoint and ``net`` have different backbone files.
    """
    path = Path(path)
    obj = load_file(path)
    state = _state_dict_of(obj, f"'{path}'")
    if any(k.startswith(lightning_prefix) for k in state):
        sub = {
            k[len(lightning_prefix):].replace("_orig_mod.", ""): v
            for k, v in state.items()
            if k.startswith(lightning_prefix)
        }
        sub = {k: v for k, v in sub.items() if not k.startswith(TRAINING_ONLY)}
        record = obj.get(BACKBONE_RECORD) if isinstance(obj, Mapping) else None
        if isinstance(record, Mapping):  # compact: the frozen backbone comes from net's own file
            restore_excluded_weights(sub, net, record, f"checkpoint '{path}'", prefix="")
        expected = {k: v for k, v in net.state_dict().items() if not k.startswith(TRAINING_ONLY)}
        check_state_dict(sub, expected, f"Lightning checkpoint '{path}'", optional=())
        _copy_into(net, sub)
        return "lightning"
    if any(k.startswith(("backbone.", "decode_head.") + MMSEG_PREFIXES) for k in state):
        load_mmseg_checkpoint(net, obj, prefix="auto")
        return "mmseg"
    if any(k.startswith("patch_embed1.") for k in state):
        raise WeightsMismatchError(
            f"'{path}' holds only ImageNet encoder weights (SegFormer {sorted(state)[0]}, …), not a trained "
            f"segmentation model: pass it as model.pretrained= for training."
        )
    raise WeightsMismatchError(
        f"'{path}': unknown checkpoint format (expected a FlexSeg Lightning checkpoint with '{lightning_prefix}*' "
        f"keys or an mmseg checkpoint); first keys: {', '.join(list(state)[:5])}"
    )

