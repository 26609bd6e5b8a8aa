"""Pretrained plain-ViT / EVA weights from local files into a timm model (docs/vfm.md).

Nothing is ever downloaded: the user downloads the file beforehand and passes its path.

* :func:`read_state_dict` — ``.pth`` / ``.pt`` / ``.bin`` (``torch.load(weights_only=True)``)
  or ``.safetensors``; unwraps ``{"model"|"state_dict"|"module"|"teacher": …}`` containers,
  ``module.`` / ``_orig_mod.`` prefixes, DINOv2 training checkpoints (``teacher`` /
  ``teacher.backbone.`` / ``backbone.``) and DINOv2 block chunks (``blocks.<chunk>.<i>.``).
* :func:`load_vit_weights` — converts with the converter timm uses for the model's own
  family (``checkpoint_filter_fn`` of the module defining the model's class:
  ``timm.models.vision_transformer`` for ViT — official DINOv2 layout with ``mask_token``,
  ``register_tokens`` and ViT-G's SwiGLU ``mlp.w12`` / ``mlp.w3``, OpenAI / open_clip CLIP;
  ``timm.models.eva`` for EVA02 / EVA-CLIP / DINOv3), which resamples the patch kernel
  (``resample_patch_embed``) and the position embedding (``resample_abs_pos_embed``, bicubic,
  antialiased) to the model's geometry; drops classification-head keys; checks every key and
  shape (strict by default) and copies the tensors in place.
* :func:`sha256_file` — streamed SHA-256 of a file (checkpoints record the backbone file's).

Published files (the error for a missing file repeats this): official DINOv2
``dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth`` from the links in the README of
https://github.com/facebookresearch/dinov2 (``https://dl.fbaipublicfiles.com/dinov2/…``);
timm weights as ``model.safetensors`` (or ``pytorch_model.bin``) on the model's Hugging Face
page ``https://huggingface.co/timm/<model>.<tag>``.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import pickle
import re
import sys
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from flexseg.models.weights import WeightsMismatchError, mismatch_listing

__all__ = ["VitWeightsError", "load_vit_weights", "read_state_dict", "sha256_file"]

log = logging.getLogger(__name__)

#: containers unwrapped by :func:`read_state_dict`, in this order of preference
CONTAINERS = ("teacher", "state_dict", "model", "module")
#: keys of classification / pre-training heads: ignored (and reported) when the model has no such key
HEAD_PREFIXES = ("head.", "head_drop.", "fc_norm.", "attn_pool.", "pre_logits.", "lm_head.", "dino_head.", "ibot_head.")
HEAD_KEYS = ("head", "mask_token")
DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vit{s}14/dinov2_vit{s}14{reg}_pretrain.pth"
_DINOV2_SIZES = {"small": "s", "base": "b", "large": "l", "giant": "g"}
_MAX_LISTED = 20


class VitWeightsError(WeightsMismatchError):
    """A ViT weights file cannot be read, converted or does not match the timm model."""


# --------------------------------------------------------------------------- files
def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 digest of a file, read in ``chunk``-byte pieces (constant memory).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = Path(d) / "x.bin"
        ...     _ = p.write_bytes(b"abc")
        ...     sha256_file(p, chunk=2)[:16]
        'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _timm_name(model: nn.Module | None) -> str:
    """The timm model name (``architecture`` of its pretrained config), else the class name."""
    if model is None:
        return "?"
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(model).__name__)


def _where_published(model: nn.Module | None = None) -> str:
    """Where the weight files are published (for messages); specific to ``model`` if given."""
    lines = [
        "Nothing is downloaded at run time: download the file beforehand and pass its path. Published files:",
        "  - official DINOv2: dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth, linked from the README of "
        "https://github.com/facebookresearch/dinov2 (e.g. " + DINOV2_URL.format(s="l", reg="") + ")",
        "  - timm weights: model.safetensors (or pytorch_model.bin) on the model's Hugging Face page, "
        "https://huggingface.co/timm/<model>.<tag>",
    ]
    if model is not None:
        name = _timm_name(model)
        m = re.fullmatch(r"vit_(small|base|large|giant)_patch14(_reg4)?_dinov2", name)
        if m:
            lines.append(f"  for {name}: {DINOV2_URL.format(s=_DINOV2_SIZES[m[1]], reg=m[2] or '')}")
        hub = (getattr(model, "pretrained_cfg", None) or {}).get("hf_hub_id")
        if hub:
            lines.append(f"  for {name}: https://huggingface.co/{hub} (model.safetensors)")
    return "\n".join(lines)


def _not_found(path: Path, model: nn.Module | None = None) -> FileNotFoundError:
    return FileNotFoundError(f"ViT weights file not found: '{path}'\n{_where_published(model)}")


def _strip(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def _normalize(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes, pick a DINOv2 teacher backbone, un-chunk DINOv2 blocks."""
    for prefix in ("module.", "_orig_mod."):  # DDP / torch.compile wrappers
        if sd and all(k.startswith(prefix) for k in sd):
            sd = _strip(sd, prefix)
    if any(k.startswith("teacher.backbone.") for k in sd):  # DINOv2 training checkpoint {"model": {student.*, teacher.*}}
        sd = _strip(sd, "teacher.backbone.")
    elif any(k.startswith("backbone.") for k in sd) and all(k.startswith(("backbone.", "dino_head.", "ibot_head.")) for k in sd):
        sd = _strip(sd, "backbone.")  # DINOv2 teacher_checkpoint.pth {"teacher": {backbone.*, dino_head.*, ibot_head.*}}
    if any(re.match(r"blocks\.\d+\.\d+\.", k) for k in sd):  # DINOv2 block_chunks: blocks.<chunk>.<global index>.
        sd = {re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k): v for k, v in sd.items()}
    return sd


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ViT weights file, on CPU, unwrapped to a flat ``{name: tensor}``.

    ``.safetensors`` via ``safetensors.torch.load_file``; anything else via
    ``torch.load(map_location="cpu", weights_only=True)`` (no arbitrary unpickling).
    Containers ``teacher`` / ``state_dict`` / ``model`` / ``module`` are unwrapped (nested
    ones too), non-tensor entries dropped, ``module.`` / ``_orig_mod.`` prefixes stripped,
    DINOv2 training checkpoints reduced to the teacher backbone and chunked blocks
    ``blocks.<chunk>.<i>.`` renamed ``blocks.<i>.``.

    Raises:
        FileNotFoundError: no such file (the message says where such files are published).
        VitWeightsError: unreadable (truncated, not a weights file, pickled objects) or no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise _not_found(path)
    obj: Any
    if path.suffix == ".npz":
        raise VitWeightsError(f"'{path}': .npz (big_vision / JAX) files are not supported; use timm's model.safetensors "
                              "for the same weights")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        with open(path, "rb") as f:
            head = f.read(32)
        if not (zipfile.is_zipfile(path) or head.startswith(b"\x80")):  # neither torch's zip nor a legacy pickle
            raise VitWeightsError(f"cannot read '{path}': not a PyTorch weights file (it starts with {head!r}); a failed "
                                  f"download (an HTML page)? Compare its size / SHA-256 with the published file.") from err
        raise VitWeightsError(
            f"'{path}' holds pickled Python objects besides tensors, which weights_only loading refuses. If you trust "
            f"the file, re-save its state dict once: torch.save(torch.load(f, weights_only=False)['model'], 'out.pth') "
            f"(or the key holding the weights). ({err})") from err
    except Exception as err:  # truncated download, HTML error page saved as .pth, corrupt safetensors header …
        raise VitWeightsError(f"cannot read '{path}' ({type(err).__name__}: {err}); a truncated or failed download? "
                              f"Compare its size / SHA-256 with the published file.") from err
    while isinstance(obj, Mapping) and not any(torch.is_tensor(v) for v in obj.values()):
        key = next((c for c in CONTAINERS if isinstance(obj.get(c), Mapping)), None)
        if key is None:
            break
        obj = obj[key]
    if not isinstance(obj, Mapping):
        raise VitWeightsError(f"'{path}': no state dict found (got {type(obj).__name__})")
    sd = {str(k): v for k, v in obj.items() if torch.is_tensor(v)}
    if not sd:
        raise VitWeightsError(f"'{path}': no tensors found (top-level keys: {sorted(map(str, obj))[:_MAX_LISTED]})")
    return _normalize(sd)


# --------------------------------------------------------------------------- conversion
def _converter(model: nn.Module) -> Callable[[dict[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]] | None:
    """``checkpoint_filter_fn`` of the (first) module in the model class's MRO that defines one."""
    for cls in type(model).__mro__:
        fn = getattr(sys.modules.get(cls.__module__), "checkpoint_filter_fn", None)
        if callable(fn):
            return fn
    return None


def _is_eva(model: nn.Module) -> bool:
    return any(c.__name__ == "Eva" for c in type(model).__mro__)


def _layout(sd: Mapping[str, torch.Tensor], model: nn.Module) -> tuple[str, str]:
    """(layout name, key prefix the converter strips) of a raw state dict for ``model``'s family."""
    if "mask_token" in sd and "storage_tokens" not in sd and any(k.endswith(".ls1.gamma") for k in sd) and _is_eva(model):
        return "dinov2", ""  # an official DINOv2 file given to an Eva model (no converter for it there)
    if "storage_tokens" in sd and not _is_eva(model):
        return "dinov3", ""  # an official DINOv3 file given to a VisionTransformer
    if _is_eva(model):
        if "visual.conv1.weight" in sd:
            return "pe", "visual."
        if "conv1.weight" in sd:
            return "pe", ""
        if "visual.trunk.pos_embed" in sd:
            return "open_clip", "visual.trunk."
        if "storage_tokens" in sd:
            return "dinov3", ""
        if "visual.pos_embed" in sd:
            return "eva", "visual."  # EVA-CLIP original naming (q_proj / q_bias, mlp.w1 / w2 / w3, ffn_ln, inner_attn_ln)
        if "mask_token" in sd or any(re.search(r"\.(mlp\.w1[2]?|mlp\.ffn_ln|attn\.inner_attn_ln)\.", k) for k in sd):
            return "eva", ""  # EVA / EVA02 original (MIM pretrain or fine-tune) naming
    else:
        if "visual.class_embedding" in sd:
            return "clip", "visual."
        if "module.visual.class_embedding" in sd:
            return "clip", "module.visual."
        if "mask_token" in sd:
            return "dinov2", ""
        if "visual.trunk.pos_embed" in sd or "visual.trunk.blocks.0.norm1.weight" in sd:
            return "open_clip", "visual.trunk."
    if any(k.startswith(("embeddings.", "encoder.layer.", "vision_model.")) for k in sd):
        return "hf_transformers", ""
    own = nn.Module.state_dict(model)
    return ("timm", "") if any(k in own for k in sd) else ("unknown", "")


def _group(keys: list[str]) -> list[str]:
    """``["text.a", "text.b", "logit_scale"]`` → ``["text.* (2 tensors)", "logit_scale"]``."""
    groups: dict[str, int] = {}
    for k in keys:
        head = k.split(".", 1)[0] + (".*" if "." in k else "")
        groups[head] = groups.get(head, 0) + 1
    return [f"{g} ({n} tensors)" if g.endswith(".*") else g for g, n in groups.items()]


def _dropped_by_converter(sd: Mapping[str, torch.Tensor], layout: str, prefix: str, model: nn.Module) -> list[str]:
    """File keys timm's converter discards knowingly (for the report's ``ignored``)."""
    dropped = _group(sorted(k for k in sd if not k.startswith(prefix))) if prefix else []
    own = nn.Module.state_dict(model)
    if layout == "dinov2":
        dropped += [k for k in ("mask_token",) if k in sd]
    elif layout in ("dinov3", "eva"):
        for k in sorted(sd):
            name = k[len(prefix):] if k.startswith(prefix) else None
            if name is None:
                continue
            if name == "mask_token" or name.endswith((".periods", ".bias_mask")) or name.startswith(("local_cls_norm", "projectors.")):
                dropped.append(k)
            elif "rope" in name and name != "rope.freqs":
                dropped.append(k)
            elif layout == "dinov3" and name.endswith("qkv.bias") and name.replace("qkv.bias", "q_bias") not in own:
                dropped.append(k)  # the model has no q/v bias (timm: the distilled models' biases are zero)
    elif layout == "clip" and f"{prefix}proj" in sd:
        dropped.append(f"{prefix}proj")  # CLIP projection → head.*, ignored for num_classes=0
    return dropped


def _grid_of(tokens: int) -> tuple[int, int] | None:
    """The square grid in ``tokens`` position embeddings (≤ 16 prefix tokens), if any."""
    g = math.isqrt(tokens)
    return (g, g) if g > 0 and tokens - g * g <= 16 else None


def _resampled(sd: Mapping[str, torch.Tensor], prefix: str, model: nn.Module) -> list[str]:
    """``["patch_embed.proj.weight 14->16", "pos_embed 37x37->32x32"]`` for what the converter resamples."""
    out = []
    pe = getattr(model, "patch_embed", None)
    proj = getattr(pe, "proj", None)
    weight = getattr(proj, "weight", None)
    kernel = next((v for k, v in sd.items() if k.endswith(("patch_embed.proj.weight", "conv1.weight")) and v.ndim == 4), None)
    if kernel is not None and weight is not None and tuple(kernel.shape[-2:]) != tuple(weight.shape[-2:]):
        old, new = (f"{s[0]}" if s[0] == s[1] else f"{s[0]}x{s[1]}" for s in (kernel.shape[-2:], weight.shape[-2:]))
        out.append(f"patch_embed.proj.weight {old}->{new}")
    pos = next((sd[k] for k in (prefix + "pos_embed", prefix + "positional_embedding") if k in sd), None)
    grid = getattr(pe, "grid_size", None)
    if pos is not None and getattr(model, "pos_embed", None) is not None and grid is not None:
        old_grid = _grid_of(pos.shape[-2])
        new_grid = tuple(int(g) for g in grid)
        if old_grid != new_grid:
            src = f"{old_grid[0]}x{old_grid[1]}" if old_grid else f"{pos.shape[-2]} tokens"
            out.append(f"pos_embed {src}->{new_grid[0]}x{new_grid[1]}")
    return out


def _ignorable(key: str) -> bool:
    return key in HEAD_KEYS or key.startswith(HEAD_PREFIXES)


def _hints(given: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor], layout: str, model: nn.Module) -> list[str]:
    """Likely causes of a mismatch: another model size, a segmentation checkpoint, a foreign layout."""
    hints = []

    def depth(keys: Any) -> int:
        idx = [int(m[1]) for k in keys if (m := re.match(r"blocks\.(\d+)\.", k))]
        return max(idx) + 1 if idx else 0

    def width(sd: Mapping[str, torch.Tensor]) -> int | None:
        t = sd.get("cls_token", sd.get("pos_embed"))
        return int(t.shape[-1]) if t is not None else None

    d_file, d_model = depth(given), depth(own)
    w_file, w_model = width(given), width(own)
    if (d_file and d_file != d_model) or (w_file and w_model and w_file != w_model):
        hints.append(f"the file has {d_file} blocks of width {w_file}, the model {d_model} of width {w_model}: "
                     f"a file for another model size? (ViT-S 384, B 768, L 1024, g 1536 wide)")
    if any(k.startswith(("decode_head.", "auxiliary_head.", "backbone.")) for k in given):
        hints.append("this looks like a segmentation checkpoint (mmseg / FlexSeg: backbone.* / decode_head.*), "
                     "not backbone weights; load it as a checkpoint, not as model.pretrained")
    if layout in ("dinov3", "eva", "pe", "dinov2") and (layout == "dinov2") == _is_eva(model):
        family = "Eva models (vit_*_dinov3, eva02_*)" if layout != "dinov2" else "VisionTransformer models (vit_*_dinov2)"
        hints.append(f"a {layout} file loads into timm {family}, not into {_timm_name(model)} ({type(model).__name__})")
    if layout == "hf_transformers":
        hints.append("Hugging Face transformers layout (embeddings.* / encoder.layer.*) is not a timm layout: use the "
                     "official .pth or the timm/<model> model.safetensors of the same weights")
    if layout == "unknown":
        hints.append(f"no key of the file is a key of {_timm_name(model)}; a file for another architecture?")
    return hints


def load_vit_weights(model: nn.Module, path: str | Path, strict: bool = True) -> dict:
    """Load a ViT / EVA weights file into a timm model in place (patch kernel and position
    embedding resampled to the model's geometry by timm's own converter).

    Args:
        model: a timm ``VisionTransformer`` / ``Eva`` (``num_classes=0``; any ``patch_size``,
            ``img_size``, ``dynamic_img_size``).
        path: ``.pth`` / ``.pt`` / ``.bin`` / ``.safetensors`` (:func:`read_state_dict`).
        strict: raise on any missing, unexpected or mis-shaped key; False loads what fits.

    Returns:
        ``{"path", "model" (timm name), "layout" ("dinov2" | "timm" | "clip" | "open_clip" |
        "eva" | "dinov3" | "pe" | …), "loaded": n tensors copied, "ignored": head / pre-training
        keys dropped knowingly, "missing", "unexpected", "mismatched" (``"key: file [..] vs
        model [..]"``), "resampled": e.g. ``["patch_embed.proj.weight 14->16",
        "pos_embed 37x37->32x32"]``}``.

    Raises:
        FileNotFoundError: no such file (the message says where such files are published).
        VitWeightsError: unreadable file, conversion failure, or (strict) a mismatch; the
            message names every offending key, the detected layout and the timm model.

    Example:
        >>> import tempfile, timm
        >>> kw = dict(pretrained=False, num_classes=0, depth=1, embed_dim=16, num_heads=2, img_size=28)
        >>> src = timm.create_model("vit_small_patch14_dinov2", **kw)
        >>> dst = timm.create_model("vit_small_patch14_dinov2", **{**kw, "patch_size": 16, "img_size": 32})
        >>> with tempfile.TemporaryDirectory() as d:
        ...     torch.save(src.state_dict(), Path(d) / "w.pth")
        ...     report = load_vit_weights(dst, Path(d) / "w.pth")
        >>> report["layout"], report["loaded"], report["resampled"]
        ('timm', 20, ['patch_embed.proj.weight 14->16'])
    """
    path = Path(path)
    name = _timm_name(model)
    if not path.is_file():
        raise _not_found(path, model)
    raw = read_state_dict(path)
    layout, prefix = _layout(raw, model)
    convert = _converter(model)
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:  # timm's eva converter print()s skipped biases
            converted = convert(dict(raw), model) if convert is not None else dict(raw)
        if printed.getvalue().strip():
            log.debug("timm converter output: %s", printed.getvalue().strip())
    except Exception as err:
        raise VitWeightsError(f"'{path}' (layout {layout}) could not be converted for timm model {name} by "
                              f"{getattr(convert, '__module__', '?')}.checkpoint_filter_fn: {type(err).__name__}: {err}") from err
    own = nn.Module.state_dict(model, keep_vars=False)
    ignored = _dropped_by_converter(raw, layout, prefix, model)
    given: dict[str, torch.Tensor] = {}
    for k, v in converted.items():
        if k not in own and _ignorable(k):
            ignored.append(k)
        elif torch.is_tensor(v):
            given[k] = v
    missing = [k for k in own if k not in given]  # in the model's order (embeddings, blocks, norm)
    unexpected = sorted(k for k in given if k not in own)
    mismatched = [f"{k}: file {list(given[k].shape)} vs model {list(v.shape)}"
                  for k, v in own.items() if k in given and given[k].shape != v.shape]
    report: dict[str, Any] = {"path": str(path), "model": name, "layout": layout, "loaded": 0, "ignored": ignored,
                              "missing": missing, "unexpected": unexpected, "mismatched": mismatched,
                              "resampled": _resampled(raw, prefix, model)}
    if strict and (missing or unexpected or mismatched):
        msg = f"'{path}' (layout detected: {layout}) does not match timm model {name} ({type(model).__name__}):"
        msg += mismatch_listing(missing, unexpected, mismatched)
        for hint in _hints(given, own, layout, model):
            msg += f"\n  hint: {hint}"
        msg += "\n  (strict=False loads the keys that fit)"
        raise VitWeightsError(msg)
    loaded = 0
    with torch.no_grad():
        for k, v in given.items():
            if k in own and v.shape == own[k].shape:
                own[k].copy_(v)
                loaded += 1
    report["loaded"] = loaded
    summary = (f"loaded {loaded}/{len(own)} tensors from '{path}' into {name} (layout {layout}); "
               f"resampled: {', '.join(report['resampled']) or 'none'}; ignored {len(ignored)}")
    if missing or unexpected or mismatched:
        summary += f"; NOT loaded: {len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} mis-shaped"
    log.log(logging.WARNING if missing or unexpected or mismatched else logging.INFO, summary)
    return report
