"""Weights: SegFormer ImageNet encoder files, mmseg DAFormer/HRDA checkpoints (prefixes,
ignorable keys, strict checks with readable errors), Lightning checkpoints."""
from __future__ import annotations

import argparse

import pytest
import torch

from flexseg.models.daformer import DAFormer
from flexseg.models.hrda import HRDA
from flexseg.models.weights import (
    WeightsMismatchError,
    load_any_checkpoint,
    load_mmseg_checkpoint,
    load_pretrained_encoder,
    mmseg_state_dict,
    save_mmseg_checkpoint,
    save_segformer_encoder,
)

X = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def daformer(seed: int, **kw) -> DAFormer:
    torch.manual_seed(seed)
    return DAFormer("mit_b0", num_classes=kw.pop("num_classes", 4), **kw)


def hrda(seed: int) -> HRDA:
    torch.manual_seed(seed)
    return HRDA("mit_b0", num_classes=4, hr_crop_size=32, slide_window=64, slide_stride=32)


def trained(net):
    """Move the BN running statistics away from their init so they matter."""
    net.train()
    with torch.no_grad():
        net(torch.randn(2, 3, 64, 64))
    return net.eval()


def out(net) -> torch.Tensor:
    return net.eval().inference(X)


# ---------------------------------------------------------------- SegFormer encoder
def test_segformer_encoder_round_trip(tmp_path):
    src, dst = daformer(0).eval(), daformer(1).eval()
    path = tmp_path / "mit_b0.pth"
    save_segformer_encoder(src.backbone, path)
    keys = list(torch.load(path, weights_only=True))
    assert "patch_embed1.proj.weight" in keys and "block1.0.attn.q.weight" in keys and "norm4.bias" in keys
    load_pretrained_encoder(dst.backbone, path)
    with torch.no_grad():
        for a, b in zip(src.backbone(X), dst.backbone(X)):
            assert torch.equal(a, b)


def test_segformer_file_variants_and_constructor(tmp_path):
    src = daformer(0)
    state = src.backbone.segformer_state_dict()
    # {"state_dict": ...} wrapper + an ImageNet classifier head (ignored)
    wrapped = {"state_dict": {**state, "head.weight": torch.zeros(1000, 256), "head.bias": torch.zeros(1000)}}
    torch.save(wrapped, tmp_path / "wrapped.pth")
    net = daformer(1, pretrained=str(tmp_path / "wrapped.pth"))
    assert torch.equal(net.backbone.mit.block1[0].attn.q.weight, src.backbone.mit.block1[0].attn.q.weight)
    net2 = HRDA("mit_b0", num_classes=4, hr_crop_size=32, pretrained=str(tmp_path / "wrapped.pth"))
    assert torch.equal(net2.backbone.mit.norm4.weight, src.backbone.mit.norm4.weight)


def test_pretrained_missing_file_explains(tmp_path):
    missing = tmp_path / "nope" / "mit_b0.pth"
    with pytest.raises(FileNotFoundError) as err:
        daformer(0, pretrained=str(missing))
    msg = str(err.value)
    assert str(missing) in msg and "mit_b0.pth" in msg and "model.pretrained" in msg and "data/pretrained" in msg


def test_pretrained_wrong_keys_listed(tmp_path):
    net = daformer(0)
    state = net.backbone.segformer_state_dict()
    state.pop("block2.1.mlp.fc1.weight")
    state["block9.0.bogus.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsMismatchError) as err:
        load_pretrained_encoder(net.backbone, tmp_path / "bad.pth")
    msg = str(err.value)
    assert "missing keys (1): block2.1.mlp.fc1.weight" in msg
    assert "unexpected keys (1): block9.0.bogus.weight" in msg
    assert "bad.pth" in msg


def test_pretrained_wrong_shapes_listed(tmp_path):
    net = daformer(0)
    state = net.backbone.segformer_state_dict()
    state["patch_embed1.proj.weight"] = torch.zeros(64, 3, 7, 7)  # mit_b1+ width
    torch.save(state, tmp_path / "b1.pth")
    with pytest.raises(WeightsMismatchError, match=r"patch_embed1.proj.weight: checkpoint \[64, 3, 7, 7\] vs model \[32, 3, 7, 7\]"):
        load_pretrained_encoder(net.backbone, tmp_path / "b1.pth")


# --------------------------------------------------------------------------- mmseg
def test_mmseg_daformer_round_trip(tmp_path):
    src, dst = trained(daformer(0)), daformer(1)
    path = tmp_path / "daformer.pth"
    save_mmseg_checkpoint(src, path)
    ckpt = torch.load(path, weights_only=True)
    assert set(ckpt) == {"meta", "state_dict"}
    keys = set(ckpt["state_dict"])
    assert {"backbone.patch_embed1.proj.weight", "decode_head.embed_layers.0.proj.weight",
            "decode_head.fuse_layer.aspp_modules.1.depthwise_conv.conv.weight",
            "decode_head.fuse_layer.bottleneck.bn.running_var", "decode_head.conv_seg.weight"} <= keys
    assert not any(k.startswith("backbone.mit.") for k in keys)
    assert not torch.equal(out(src), out(dst))
    report = load_mmseg_checkpoint(dst, path)
    assert report["prefix"] == "" and report["loaded"] == len(keys)
    assert torch.equal(out(src), out(dst))


def test_mmseg_prefixes_and_ignored_keys(tmp_path):
    student, teacher, dst = trained(daformer(0)), trained(daformer(2)), daformer(1)
    state = {}
    state.update({"model." + k: v for k, v in mmseg_state_dict(student).items()})
    state.update({"ema_model." + k: v for k, v in mmseg_state_dict(teacher).items()})
    state.update({"imnet_model." + k: v for k, v in mmseg_state_dict(teacher).items() if k.startswith("backbone.")})
    state["model.backbone.style_hallucination.proto_mean"] = torch.zeros(64, 3)
    state["model.backbone.style_hallucination.proto_std"] = torch.ones(64, 3)
    path = tmp_path / "uda.pth"
    torch.save({"meta": {"CLASSES": ["road"] * 4, "iter": 40000}, "state_dict": state, "optimizer": {}}, path)

    report = load_mmseg_checkpoint(dst, path)  # auto → model.
    assert report["prefix"] == "model."
    assert "backbone.style_hallucination.proto_mean" in report["ignored"]
    assert "ema_model.decode_head.conv_seg.weight" in report["ignored"]
    assert torch.equal(out(dst), out(student))
    assert load_mmseg_checkpoint(dst, path, prefix="ema_model.")["prefix"] == "ema_model."
    assert torch.equal(out(dst), out(teacher))
    with pytest.raises(WeightsMismatchError, match="missing keys"):
        load_mmseg_checkpoint(dst, path, prefix="imnet_model.")  # encoder only
    with pytest.raises(WeightsMismatchError, match="no keys with prefix"):
        load_mmseg_checkpoint(dst, state, prefix="teacher.")


def test_mmseg_hrda_round_trip(tmp_path):
    src, dst = trained(hrda(0)), hrda(1)
    path = tmp_path / "hrda.pth"
    save_mmseg_checkpoint(src, path, prefix="model.")
    keys = set(torch.load(path, weights_only=True)["state_dict"])
    assert "model.decode_head.head.fuse_layer.bottleneck.conv.weight" in keys
    assert "model.decode_head.scale_attention.fuse_layer.conv.weight" in keys
    assert "model.decode_head.scale_attention.conv_seg.bias" in keys
    assert not any("crop_step" in k for k in keys)
    load_mmseg_checkpoint(dst, path)
    assert torch.equal(out(src), out(dst))


def test_mmseg_architecture_mismatch_hints(tmp_path):
    torch.save({"state_dict": mmseg_state_dict(daformer(0))}, tmp_path / "daformer.pth")
    torch.save({"state_dict": mmseg_state_dict(hrda(0))}, tmp_path / "hrda.pth")
    with pytest.raises(WeightsMismatchError) as err:
        load_mmseg_checkpoint(hrda(1), tmp_path / "daformer.pth")
    msg = str(err.value)
    assert "missing keys" in msg and "decode_head.head.conv_seg.weight" in msg
    assert "unexpected keys" in msg and "decode_head.conv_seg.weight" in msg
    assert "DAFormer" in msg and "daformer.pth" in msg
    with pytest.raises(WeightsMismatchError, match="HRDA model"):
        load_mmseg_checkpoint(daformer(1), tmp_path / "hrda.pth")


def test_mmseg_num_classes_mismatch(tmp_path):
    torch.save({"state_dict": mmseg_state_dict(daformer(0, num_classes=19))}, tmp_path / "c19.pth")
    with pytest.raises(WeightsMismatchError) as err:
        load_mmseg_checkpoint(daformer(1, num_classes=4), tmp_path / "c19.pth")
    msg = str(err.value)
    assert "decode_head.conv_seg.weight: checkpoint [19, 256, 1, 1] vs model [4, 256, 1, 1]" in msg
    assert "num_classes differs" in msg


def test_mmseg_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_mmseg_checkpoint(daformer(0), tmp_path / "absent.pth")


# ----------------------------------------------------------------------- any format
def test_load_any_checkpoint_detects_formats(tmp_path):
    src, dst = trained(daformer(0)), daformer(1)
    lightning = {
        "state_dict": {**{"net." + k: v for k, v in src.state_dict().items()},
                       "criterion.bank.prototypes": torch.zeros(4, 3, 256)},
        "hyper_parameters": {"args": argparse.Namespace(lr=6e-5)},  # needs full unpickling
        "global_step": 10,
    }
    torch.save(lightning, tmp_path / "last.ckpt")
    assert load_any_checkpoint(dst, tmp_path / "last.ckpt") == "lightning"
    assert torch.equal(out(dst), out(src))

    other = trained(daformer(3))
    save_mmseg_checkpoint(other, tmp_path / "mm.pth", prefix="model.")
    assert load_any_checkpoint(dst, tmp_path / "mm.pth") == "mmseg"
    assert torch.equal(out(dst), out(other))

    save_segformer_encoder(other.backbone, tmp_path / "mit_b0.pth")
    with pytest.raises(WeightsMismatchError, match="model.pretrained"):
        load_any_checkpoint(dst, tmp_path / "mit_b0.pth")
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "x.pth")
    with pytest.raises(WeightsMismatchError, match="unknown checkpoint format"):
        load_any_checkpoint(dst, tmp_path / "x.pth")


def test_load_any_lightning_hrda_and_strictness(tmp_path):
    src = trained(hrda(0))
    src.train()
    src.draw_crop_box(64, 64)
    state = {"net." + k: v for k, v in src.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "h.ckpt")
    dst = hrda(1)
    assert load_any_checkpoint(dst, tmp_path / "h.ckpt") == "lightning"
    assert int(dst.crop_step) == int(src.crop_step) == 2  # one training forward + one draw
    assert torch.equal(out(dst), out(src))
    state.pop("net.decode_head.scale_attention.conv_seg.bias")
    torch.save({"state_dict": state}, tmp_path / "bad.ckpt")
    with pytest.raises(WeightsMismatchError, match="decode_head.scale_attention.conv_seg.bias"):
        load_any_checkpoint(dst, tmp_path / "bad.ckpt")
