"""ViT weights from local files (flexseg.models.vit_weights): official DINOv2 / DINOv3 /
OpenAI-CLIP / EVA-CLIP layouts written here from the upstream key names, timm's own layout
(.safetensors, pytorch_model.bin), patch-14 → 16 and position-grid resampling checked against
timm's functions, strict errors naming keys, containers, missing files, SHA-256.

Tiny random models (1–2 blocks, width 48); nothing is downloaded."""
from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed, resample_patch_embed

from flexseg.models.vit_weights import VitWeightsError, load_vit_weights, read_state_dict, sha256_file
from flexseg.models.weights import WeightsMismatchError

DIM, HEADS = 48, 2


def tiny(name: str = "vit_small_patch14_dinov2", depth: int = 2, img_size: int = 56, seed: int = 123, **kw) -> torch.nn.Module:
    """A tiny random timm model as the VFM backbone builds it (num_classes=0, dynamic_img_size)."""
    torch.manual_seed(seed)
    kw = {"embed_dim": DIM, "num_heads": HEADS, **kw}
    return timm.create_model(name, pretrained=False, num_classes=0, depth=depth, img_size=img_size, dynamic_img_size=True, **kw)


def official_dinov2(depth: int = 2, dim: int = DIM, grid: int = 4, patch: int = 14, reg: int = 0, swiglu: bool = False,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in facebookresearch/dinov2's DinoVisionTransformer layout (hub models:
    block_chunks=0, layer scale on; ``ffn_layer="swiglufused"`` for ViT-g: SwiGLUFFNFused
    ``w12`` / ``w3`` with hidden ``(int(4·dim·2/3) + 7) // 8 * 8``), random values."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    sd = {"cls_token": r(1, 1, dim), "pos_embed": r(1, 1 + grid * grid, dim), "mask_token": r(1, dim),
          "patch_embed.proj.weight": r(dim, 3, patch, patch), "patch_embed.proj.bias": r(dim)}
    if reg:
        sd["register_tokens"] = r(1, reg, dim)
    for i in range(depth):
        b = f"blocks.{i}."
        sd.update({b + "norm1.weight": r(dim), b + "norm1.bias": r(dim), b + "attn.qkv.weight": r(3 * dim, dim),
                   b + "attn.qkv.bias": r(3 * dim), b + "attn.proj.weight": r(dim, dim), b + "attn.proj.bias": r(dim),
                   b + "ls1.gamma": r(dim), b + "norm2.weight": r(dim), b + "norm2.bias": r(dim)})
        if swiglu:
            h = (int(4 * dim * 2 / 3) + 7) // 8 * 8
            sd.update({b + "mlp.w12.weight": r(2 * h, dim), b + "mlp.w12.bias": r(2 * h), b + "mlp.w3.weight": r(dim, h),
                       b + "mlp.w3.bias": r(dim)})
        else:
            sd.update({b + "mlp.fc1.weight": r(4 * dim, dim), b + "mlp.fc1.bias": r(4 * dim), b + "mlp.fc2.weight": r(dim, 4 * dim),
                       b + "mlp.fc2.bias": r(dim)})
        sd[b + "ls2.gamma"] = r(dim)
    sd.update({"norm.weight": r(dim), "norm.bias": r(dim)})
    return sd


def dinov2_to_timm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What each timm key must hold after loading an official DINOv2 file (no resampling)."""
    out = {k.replace("mlp.w12.", "mlp.fc1.").replace("mlp.w3.", "mlp.fc2."): v for k, v in sd.items() if k != "mask_token"}
    if "register_tokens" in out:  # timm: no_embed_class, cls position folded into cls_token
        out["reg_token"] = out.pop("register_tokens")
        out["cls_token"] = sd["cls_token"] + sd["pos_embed"][:, 0]
        out["pos_embed"] = sd["pos_embed"][:, 1:]
    return out


def assert_holds(model: torch.nn.Module, expected: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> None:
    own = model.state_dict()
    assert set(own) == set(expected), set(own) ^ set(expected)
    for k, v in expected.items():
        if k not in skip:
            assert torch.equal(own[k], v), k


def save(tmp_path: Path, sd: object, name: str = "w.pth") -> Path:
    path = tmp_path / name
    torch.save(sd, path)
    return path


# --------------------------------------------------------------------------- official DINOv2
@pytest.mark.parametrize("reg", [0, 4])
def test_official_dinov2_file_loads_every_tensor_exactly(tmp_path, reg, caplog):
    sd = official_dinov2(reg=reg)
    model = tiny("vit_small_patch14_reg4_dinov2" if reg else "vit_small_patch14_dinov2")
    with caplog.at_level(logging.INFO, logger="flexseg.models.vit_weights"):
        report = load_vit_weights(model, save(tmp_path, sd, "dinov2_vits14_pretrain.pth"))
    assert report["layout"] == "dinov2"
    assert report["ignored"] == ["mask_token"]  # dropped knowingly, strict still passes
    assert report["missing"] == report["unexpected"] == report["mismatched"] == report["resampled"] == []
    assert report["loaded"] == len(model.state_dict()) == len(sd) - 1
    assert report["path"].endswith("dinov2_vits14_pretrain.pth")
    assert_holds(model, dinov2_to_timm(sd))
    lines = [r.getMessage() for r in caplog.records if r.name == "flexseg.models.vit_weights"]
    assert len(lines) == 1 and "layout dinov2" in lines[0] and "vit_small_patch14" in lines[0]


@pytest.mark.parametrize("reg", [0, 4])
@pytest.mark.parametrize("patch,img,resampled", [
    (16, 512, ["patch_embed.proj.weight 14->16", "pos_embed 37x37->32x32"]),  # Rein: 518/14 → 512/16
    (14, 512, ["pos_embed 37x37->36x36"]),
])
def test_patch_and_position_resampling_equal_timms_functions(tmp_path, reg, patch, img, resampled):
    sd = official_dinov2(depth=1, grid=37, reg=reg)  # the released files' 37×37 grid (518 px)
    model = tiny("vit_small_patch14_reg4_dinov2" if reg else "vit_small_patch14_dinov2", depth=1, img_size=img, patch_size=patch)
    grid = img // patch
    assert tuple(model.patch_embed.grid_size) == (grid, grid)
    report = load_vit_weights(model, save(tmp_path, sd))
    assert report["resampled"] == resampled
    expected = dinov2_to_timm(sd)
    if patch != 14:
        expected["patch_embed.proj.weight"] = resample_patch_embed(sd["patch_embed.proj.weight"], [patch, patch],
                                                                   interpolation="bicubic", antialias=True)
    expected["pos_embed"] = resample_abs_pos_embed(expected["pos_embed"], new_size=[grid, grid], num_prefix_tokens=0 if reg else 1,
                                                   interpolation="bicubic", antialias=True)
    assert_holds(model, expected)  # exact: the same function on the same tensors
    assert model.state_dict()["pos_embed"].shape[1] == grid * grid + (0 if reg else 1)
    with torch.no_grad():  # any input size at inference (dynamic_img_size)
        out = model.forward_features(torch.randn(1, 3, 2 * patch, 3 * patch))
    assert out.shape == (1, 6 + 1 + reg, DIM)


def test_vit_giant_swiglu_layout_loads_and_computes_the_official_ffn(tmp_path):
    sd = official_dinov2(depth=1, swiglu=True)
    model = tiny("vit_giant_patch14_dinov2", depth=1)
    report = load_vit_weights(model, save(tmp_path, sd, "dinov2_vitg14_pretrain.pth"))
    assert report["layout"] == "dinov2" and report["missing"] == report["unexpected"] == []
    assert_holds(model, dinov2_to_timm(sd))
    # timm's SwiGLUPacked computes DINOv2's SwiGLUFFN: w3(silu(x1) * x2), (x1, x2) = w12(x).chunk(2)
    x = torch.randn(2, 5, DIM)
    x1, x2 = F.linear(x, sd["blocks.0.mlp.w12.weight"], sd["blocks.0.mlp.w12.bias"]).chunk(2, dim=-1)
    ref = F.linear(F.silu(x1) * x2, sd["blocks.0.mlp.w3.weight"], sd["blocks.0.mlp.w3.bias"])
    with torch.no_grad():
        torch.testing.assert_close(model.blocks[0].mlp(x), ref)


def test_containers_prefixes_and_dinov2_training_checkpoints_unwrap(tmp_path):
    sd = official_dinov2(depth=2)
    chunked = {(k.replace("blocks.1.", "blocks.1.1.").replace("blocks.0.", "blocks.0.0.")): v for k, v in sd.items()}
    wrapped = {
        "model": {"model": sd, "epoch": 3},
        "state_dict": {"state_dict": sd, "meta": {"x": 1}},
        "module": {"module": sd},
        "ddp": {f"module.{k}": v for k, v in sd.items()},
        "teacher": {"teacher": {**{f"backbone.{k}": v for k, v in chunked.items()}, "dino_head.mlp.0.weight": torch.ones(2)}},
        "train": {"model": {**{f"teacher.backbone.{k}": v for k, v in sd.items()},
                            **{f"student.backbone.{k}": -v for k, v in sd.items()}}, "iteration": 7},
    }
    for name, obj in wrapped.items():
        got = read_state_dict(save(tmp_path, obj, f"{name}.pth"))
        assert set(got) == set(sd), name
        assert all(torch.equal(got[k], sd[k]) for k in sd), name
    model = tiny()
    assert load_vit_weights(model, tmp_path / "teacher.pth")["layout"] == "dinov2"
    assert_holds(model, dinov2_to_timm(sd))


# --------------------------------------------------------------------------- timm layout
@pytest.mark.parametrize("fmt", ["model.safetensors", "pytorch_model.bin", "w.pth"])
def test_timm_layout_round_trips_exactly(tmp_path, fmt):
    src = tiny(seed=1)
    sd = {k: v.clone() for k, v in src.state_dict().items()}
    path = tmp_path / fmt
    save_file(sd, str(path)) if fmt.endswith(".safetensors") else torch.save(sd, path)
    dst = tiny(seed=2)
    assert not torch.equal(dst.state_dict()["blocks.0.attn.qkv.weight"], sd["blocks.0.attn.qkv.weight"])
    report = load_vit_weights(dst, path)
    assert report["layout"] == "timm" and report["loaded"] == len(sd)
    assert report["ignored"] == report["resampled"] == []
    assert_holds(dst, sd)


def test_classifier_head_keys_are_ignored_and_reported(tmp_path):
    src = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=10, depth=1, embed_dim=DIM, num_heads=HEADS,
                            img_size=56)
    sd = src.state_dict()
    assert "head.weight" in sd
    dst = tiny(depth=1)
    report = load_vit_weights(dst, save(tmp_path, sd))
    assert sorted(report["ignored"]) == ["head.bias", "head.weight"]
    assert_holds(dst, {k: v for k, v in sd.items() if not k.startswith("head.")})


# --------------------------------------------------------------------------- CLIP / EVA / DINOv3
def test_openai_clip_layout_loads(tmp_path):
    model = tiny("vit_large_patch14_clip_224", depth=1)
    g = torch.Generator().manual_seed(0)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    b = "visual.transformer.resblocks.0."
    sd = {"visual.class_embedding": r(DIM), "visual.positional_embedding": r(17, DIM), "visual.conv1.weight": r(DIM, 3, 14, 14),
          "visual.ln_pre.weight": r(DIM), "visual.ln_pre.bias": r(DIM),
          b + "ln_1.weight": r(DIM), b + "ln_1.bias": r(DIM),
          b + "attn.in_proj_weight": r(3 * DIM, DIM), b + "attn.in_proj_bias": r(3 * DIM),
          b + "attn.out_proj.weight": r(DIM, DIM), b + "attn.out_proj.bias": r(DIM), b + "ln_2.weight": r(DIM), b + "ln_2.bias": r(DIM),
          b + "mlp.c_fc.weight": r(4 * DIM, DIM), b + "mlp.c_fc.bias": r(4 * DIM), b + "mlp.c_proj.weight": r(DIM, 4 * DIM),
          b + "mlp.c_proj.bias": r(DIM), "visual.ln_post.weight": r(DIM), "visual.ln_post.bias": r(DIM), "visual.proj": r(DIM, 32),
          # the text tower of a full CLIP file
          "transformer.resblocks.0.ln_1.weight": r(32), "token_embedding.weight": r(10, 32), "positional_embedding": r(8, 32),
          "text_projection": r(32, 32), "logit_scale": r(())}
    report = load_vit_weights(model, save(tmp_path, sd, "ViT-L-14.pt"))
    assert report["layout"] == "clip" and report["missing"] == report["unexpected"] == []
    assert "visual.proj" in report["ignored"] and "transformer.* (1 tensors)" in report["ignored"]
    t = "blocks.0."
    assert_holds(model, {
        "cls_token": sd["visual.class_embedding"].reshape(1, 1, DIM), "pos_embed": sd["visual.positional_embedding"][None],
        "patch_embed.proj.weight": sd["visual.conv1.weight"], "norm_pre.weight": sd["visual.ln_pre.weight"],
        "norm_pre.bias": sd["visual.ln_pre.bias"], t + "norm1.weight": sd[b + "ln_1.weight"], t + "norm1.bias": sd[b + "ln_1.bias"],
        t + "attn.qkv.weight": sd[b + "attn.in_proj_weight"], t + "attn.qkv.bias": sd[b + "attn.in_proj_bias"],
        t + "attn.proj.weight": sd[b + "attn.out_proj.weight"], t + "attn.proj.bias": sd[b + "attn.out_proj.bias"],
        t + "norm2.weight": sd[b + "ln_2.weight"], t + "norm2.bias": sd[b + "ln_2.bias"],
        t + "mlp.fc1.weight": sd[b + "mlp.c_fc.weight"], t + "mlp.fc1.bias": sd[b + "mlp.c_fc.bias"],
        t + "mlp.fc2.weight": sd[b + "mlp.c_proj.weight"], t + "mlp.fc2.bias": sd[b + "mlp.c_proj.bias"],
        "norm.weight": sd["visual.ln_post.weight"], "norm.bias": sd["visual.ln_post.bias"]})


def test_eva02_timm_layout_round_trips(tmp_path):
    src, dst = tiny("eva02_large_patch14_clip_224", seed=1), tiny("eva02_large_patch14_clip_224", seed=2)
    sd = {k: v.clone() for k, v in src.state_dict().items()}
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path))
    report = load_vit_weights(dst, path)
    assert report["layout"] == "timm" and report["loaded"] == len(sd)
    assert_holds(dst, sd)


#: timm Eva key → EVA-CLIP (baaivision/EVA, EVA-CLIP eva_vit_model.py) visual-tower name
EVA_CLIP_NAMES = [("attn.q_proj.bias", "attn.q_bias"), ("attn.v_proj.bias", "attn.v_bias"), ("attn.norm.", "attn.inner_attn_ln."),
                  ("mlp.fc1_g.", "mlp.w1."), ("mlp.fc1_x.", "mlp.w2."), ("mlp.fc2.", "mlp.w3."), ("mlp.norm.", "mlp.ffn_ln.")]


def test_eva_clip_original_layout_loads_and_resamples(tmp_path):
    src = tiny("eva02_large_patch14_clip_224", seed=1, depth=2, img_size=56)
    expected = {k: v.clone() for k, v in src.state_dict().items()}
    sd = {}
    for k, v in expected.items():
        for timm_name, eva_name in EVA_CLIP_NAMES:
            k = k.replace(timm_name, eva_name)
        sd[f"visual.{k}"] = v
    assert "visual.blocks.0.attn.q_bias" in sd and "visual.blocks.0.mlp.w1.weight" in sd
    sd.update({"visual.rope.freqs_cos": torch.randn(16, 8), "visual.rope.freqs_sin": torch.randn(16, 8),
               "visual.head.weight": torch.randn(32, DIM), "visual.head.bias": torch.randn(32),
               "text.transformer.resblocks.0.attn.in_proj_weight": torch.randn(96, 32), "logit_scale": torch.ones(())})
    model = tiny("eva02_large_patch14_clip_224", depth=2, img_size=64, patch_size=16)  # 4×4 grid, patch 14 → 16
    report = load_vit_weights(model, save(tmp_path, sd, "EVA02_CLIP_L_psz14_s4B.pt"))
    assert report["layout"] == "eva" and report["missing"] == report["unexpected"] == []
    assert report["resampled"] == ["patch_embed.proj.weight 14->16"]
    assert {"visual.rope.freqs_cos", "visual.rope.freqs_sin", "head.weight", "head.bias", "text.* (1 tensors)",
            "logit_scale"} <= set(report["ignored"])
    expected["patch_embed.proj.weight"] = resample_patch_embed(expected["patch_embed.proj.weight"], [16, 16],
                                                               interpolation="bicubic", antialias=True)
    assert_holds(model, expected)
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 48, 80)).shape == (1, 1 + 15, DIM)


def test_dinov3_official_layout_loads(tmp_path):
    model = tiny("vit_small_patch16_dinov3", depth=1, img_size=64)
    g = torch.Generator().manual_seed(0)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    b = "blocks.0."  # facebookresearch/dinov3 DinoVisionTransformer keys
    sd = {"cls_token": r(1, 1, DIM), "storage_tokens": r(1, 4, DIM), "mask_token": r(1, DIM), "rope_embed.periods": r(6),
          "patch_embed.proj.weight": r(DIM, 3, 16, 16), "patch_embed.proj.bias": r(DIM),
          b + "norm1.weight": r(DIM), b + "norm1.bias": r(DIM), b + "attn.qkv.weight": r(3 * DIM, DIM),
          b + "attn.qkv.bias": torch.zeros(3 * DIM), b + "attn.qkv.bias_mask": torch.ones(3 * DIM),
          b + "attn.proj.weight": r(DIM, DIM), b + "attn.proj.bias": r(DIM), b + "ls1.gamma": r(DIM),
          b + "norm2.weight": r(DIM), b + "norm2.bias": r(DIM), b + "mlp.fc1.weight": r(4 * DIM, DIM), b + "mlp.fc1.bias": r(4 * DIM),
          b + "mlp.fc2.weight": r(DIM, 4 * DIM), b + "mlp.fc2.bias": r(DIM), b + "ls2.gamma": r(DIM),
          "norm.weight": r(DIM), "norm.bias": r(DIM)}
    report = load_vit_weights(model, save(tmp_path, sd, "dinov3_vits16_pretrain.pth"))
    assert report["layout"] == "dinov3" and report["missing"] == report["unexpected"] == []
    assert {"mask_token", "rope_embed.periods", b + "attn.qkv.bias", b + "attn.qkv.bias_mask"} <= set(report["ignored"])
    renamed = {"storage_tokens": "reg_token", "ls1.gamma": "gamma_1", "ls2.gamma": "gamma_2"}
    expected = {}
    for k, v in sd.items():
        if k in report["ignored"]:
            continue
        for a, c in renamed.items():
            k = k.replace(a, c)
        expected[k] = v
    assert_holds(model, expected)


# --------------------------------------------------------------------------- mismatches
def test_missing_keys_raise_naming_them_and_non_strict_loads_the_rest(tmp_path):
    sd = official_dinov2()
    del sd["blocks.1.attn.qkv.weight"], sd["norm.bias"]
    path = save(tmp_path, sd)
    model = tiny()
    before = model.state_dict()["blocks.1.attn.qkv.weight"].clone()
    with pytest.raises(VitWeightsError) as err:
        load_vit_weights(model, path)
    msg = str(err.value)
    assert "missing keys (2): blocks.1.attn.qkv.weight, norm.bias" in msg
    assert "dinov2" in msg and "vit_small_patch14_dinov2" in msg and str(path) in msg
    assert isinstance(err.value, WeightsMismatchError)
    assert torch.equal(model.state_dict()["blocks.1.attn.qkv.weight"], before)  # strict failure copies nothing
    assert not torch.equal(model.state_dict()["norm.weight"], sd["norm.weight"])
    report = load_vit_weights(model, path, strict=False)
    assert report["missing"] == ["blocks.1.attn.qkv.weight", "norm.bias"]
    assert report["loaded"] == len(model.state_dict()) - 2
    assert torch.equal(model.state_dict()["blocks.1.attn.qkv.weight"], before)
    assert torch.equal(model.state_dict()["norm.weight"], sd["norm.weight"])


def test_unexpected_keys_raise_naming_them(tmp_path):
    sd = official_dinov2()
    sd.update({"reins.0.learnable_tokens": torch.zeros(3, DIM), "blocks.0.attn.extra": torch.zeros(2)})
    path = save(tmp_path, sd)
    with pytest.raises(VitWeightsError, match=r"unexpected keys \(2\): blocks\.0\.attn\.extra, reins\.0\.learnable_tokens"):
        load_vit_weights(tiny(), path)
    model = tiny()
    report = load_vit_weights(model, path, strict=False)
    assert report["unexpected"] == ["blocks.0.attn.extra", "reins.0.learnable_tokens"] and report["missing"] == []
    assert report["loaded"] == len(model.state_dict())


def test_wrong_model_size_names_shapes_and_hints(tmp_path):
    path = save(tmp_path, official_dinov2(depth=3, dim=64))
    with pytest.raises(VitWeightsError) as err:
        load_vit_weights(tiny(), path)
    msg = str(err.value)
    assert "shape mismatches" in msg and "cls_token: file [1, 1, 64] vs model [1, 1, 48]" in msg
    assert "unexpected keys" in msg and "blocks.2.attn.qkv.weight" in msg
    assert "… and" in msg  # long listings are truncated
    assert "hint: the file has 3 blocks of width 64, the model 2 of width 48" in msg
    model = tiny()
    report = load_vit_weights(model, path, strict=False)
    assert report["loaded"] == 0 and len(report["mismatched"]) == len(model.state_dict())


def test_segmentation_checkpoint_is_not_taken_for_backbone_weights(tmp_path):
    sd = {f"backbone.{k}": v for k, v in official_dinov2().items()}
    sd["decode_head.conv_seg.weight"] = torch.zeros(19, 8, 1, 1)
    with pytest.raises(VitWeightsError, match="segmentation checkpoint"):
        load_vit_weights(tiny(), save(tmp_path, {"state_dict": sd, "meta": {}}))


def test_foreign_layouts_get_a_hint(tmp_path):
    hf = {"embeddings.cls_token": torch.zeros(1, 1, DIM), "encoder.layer.0.attention.attention.query.weight": torch.zeros(DIM, DIM)}
    with pytest.raises(VitWeightsError, match=r"(?s)layout detected: hf_transformers.*Hugging Face transformers layout"):
        load_vit_weights(tiny(), save(tmp_path, hf, "model.bin"))
    with pytest.raises(VitWeightsError, match=r"(?s)layout detected: dinov2.*loads into timm VisionTransformer models"):
        load_vit_weights(tiny("vit_small_patch16_dinov3", depth=2), save(tmp_path, official_dinov2()))


def test_missing_file_names_path_and_where_it_is_published(tmp_path):
    path = tmp_path / "nowhere" / "dinov2_vits14_pretrain.pth"
    with pytest.raises(FileNotFoundError) as err:
        read_state_dict(path)
    assert str(path) in str(err.value) and "facebookresearch/dinov2" in str(err.value) and "huggingface.co" in str(err.value)
    with pytest.raises(FileNotFoundError) as err:
        load_vit_weights(tiny(), path)
    msg = str(err.value)
    assert str(path) in msg and "dinov2_vits14/dinov2_vits14_pretrain.pth" in msg
    assert "huggingface.co/timm/vit_small_patch14_dinov2" in msg and "Nothing is downloaded" in msg


def test_unreadable_files_raise_vit_weights_error(tmp_path):
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(b"<html>403 Forbidden</html>")
    with pytest.raises(VitWeightsError, match="cannot read"):
        read_state_dict(bad)
    pickled = save(tmp_path, {"model": official_dinov2(depth=1), "args": argparse.Namespace(lr=1.0)}, "pickled.pth")
    with pytest.raises(VitWeightsError, match="weights_only"):
        read_state_dict(pickled)
    with pytest.raises(VitWeightsError, match="no tensors"):
        read_state_dict(save(tmp_path, {"epoch": 1}, "empty.pth"))


# --------------------------------------------------------------------------- sha256
def test_sha256_file_equals_hashlib(tmp_path):
    data = torch.randint(0, 256, (5000,), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).numpy().tobytes()
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == sha256_file(str(path), chunk=7) == sha256_file(path, chunk=1 << 12) == expected
