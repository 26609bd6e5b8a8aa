"""Networks: DAFormer / HRDA shapes, parameter counts, HRDA training contract and fusion
(against a transcription of lhoyer/HRDA's HRDAHead), crop RNG, sliding-window inference."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf

from flexseg.models.daformer import DAFormer, slide_boxes, slide_inference
from flexseg.models.hrda import HRDA

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def tiny_hrda(**kw) -> HRDA:
    torch.manual_seed(0)
    args = dict(encoder="mit_b0", num_classes=5, hr_crop_size=32, slide_window=64, slide_stride=32)
    args.update(kw)
    return HRDA(**args)


@pytest.fixture(scope="module")
def hrda() -> HRDA:
    return tiny_hrda()


@pytest.fixture(scope="module")
def daformer() -> DAFormer:
    torch.manual_seed(0)
    return DAFormer("mit_b0", num_classes=5).eval()


# ------------------------------------------------------------------ parameter counts
@pytest.mark.slow
def test_daformer_mitb5_param_count():
    net = DAFormer("mit_b5")
    assert n_params(net.backbone) == 81_443_008
    assert n_params(net.decode_head) == 3_712_275
    assert n_params(net) == 85_155_283


@pytest.mark.slow
def test_hrda_mitb5_param_count():
    net = HRDA("mit_b5")
    assert n_params(net.backbone) == 81_443_008
    assert n_params(net.decode_head.head) == 3_712_275
    assert n_params(net.decode_head.scale_attention) == 530_707
    assert n_params(net) == 85_685_990


# ----------------------------------------------------------------------- DAFormer
def test_daformer_forward_shapes(daformer):
    with torch.no_grad():
        out = daformer(torch.randn(2, 3, 64, 96))
    assert out["logits"].shape == (2, 5, 16, 24)
    assert out["features"].shape == (2, 256, 16, 24)


@pytest.mark.parametrize("size", [(64, 64), (100, 150), (33, 47), (20, 40)])
def test_daformer_inference_any_size(daformer, size):
    logits = daformer.inference(torch.randn(1, 3, *size))
    assert logits.shape == (1, 5, *size)
    assert torch.isfinite(logits).all()


def test_daformer_slide_single_window_equals_whole(daformer):
    x = torch.randn(1, 3, 96, 120)
    daformer.slide_window, daformer.slide_stride = (128, 128), (64, 64)
    try:
        assert torch.equal(daformer.inference(x), daformer.whole_inference(x))
    finally:
        daformer.slide_window = daformer.slide_stride = None


def test_channels_last_matches(daformer):
    x = torch.randn(1, 3, 64, 64)
    ref = daformer.inference(x)
    net = DAFormer("mit_b0", num_classes=5).eval()
    net.load_state_dict(daformer.state_dict())
    net = net.to(memory_format=torch.channels_last)
    out = net.inference(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------ sliding windows
def test_slide_boxes_reference_grid():
    # HRDA test on native 1920×1080 (ACDC/DZ): 2 rows × 3 cols of 1024 windows
    boxes = slide_boxes(1080, 1920, (1024, 1024), (512, 512))
    assert sorted({b[0] for b in boxes}) == [0, 56] and sorted({b[1] for b in boxes}) == [0, 512, 896]
    assert all(b[2] - b[0] == 1024 and b[3] - b[1] == 1024 for b in boxes)
    # window larger than the image: one clipped window
    assert slide_boxes(100, 150, (128, 256), (64, 128)) == [(0, 0, 100, 150)]
    cover = torch.zeros(1080, 1920)
    for y0, x0, y1, x1 in boxes:
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1


def test_slide_inference_pixelwise_predictor_is_exact():
    """A per-pixel predictor gives the same value from every window: the overlap average
    must reproduce it exactly."""
    x = torch.randn(2, 3, 100, 170)
    out = slide_inference(lambda w: w[:, :1].repeat(1, 4, 1, 1) * 2, x, (64, 64), (24, 40), 4)
    torch.testing.assert_close(out, x[:, :1].repeat(1, 4, 1, 1) * 2)


# --------------------------------------------------------------------- HRDA training
def test_hrda_training_forward_contract(hrda):
    hrda.train()
    x = torch.randn(2, 3, 64, 96)
    out = hrda(x)
    box = out["features_box"]
    y0, x0, y1, x1 = box
    assert (y1 - y0, x1 - x0) == (32, 32) and y0 % 8 == 0 and x0 % 8 == 0
    assert 0 <= y0 and y1 <= 64 and 0 <= x0 and x1 <= 96
    assert out["logits"].shape == (2, 5, 16, 24)  # fused, 1/4 of the context
    assert out["logits_weight"] == pytest.approx(0.9)
    assert out["features"].shape == (2, 256, 8, 8)  # HR features of the crop
    (aux,) = out["aux"]
    assert aux["box"] == box and aux["weight"] == pytest.approx(0.1)
    assert aux["logits"].shape == (2, 5, 8, 8)
    # gradients reach both heads and the encoder
    (out["logits"].mean() + aux["logits"].mean()).backward()
    for m in (hrda.backbone, hrda.decode_head.head, hrda.decode_head.scale_attention):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
    hrda.zero_grad(set_to_none=True)


def _reference_fusion(lr_seg, att, hr_seg, crop_box_hr, lr_scale=0.5, os=4):
    """Transcription of lhoyer/HRDA ``HRDAHead.forward`` (scales [lr_scale, 1],
    hr_crop_box = (y1, y2, x1, x2))."""
    y1, y2, x1, x2 = crop_box_hr
    mask = lr_seg.new_zeros([lr_seg.shape[0], 1, *lr_seg.shape[2:]])
    s = os / lr_scale
    mask[:, :, int(y1 / s):int(y2 / s), int(x1 / s):int(x2 / s)] = 1
    att = att * mask
    lr_seg = (1 - att) * lr_seg
    up_lr_seg = F.interpolate(lr_seg, scale_factor=1 / lr_scale, mode="bilinear", align_corners=False)
    att = F.interpolate(att, scale_factor=1 / lr_scale, mode="bilinear", align_corners=False)
    hr_ins = torch.zeros_like(up_lr_seg)
    hr_ins[:, :, int(y1 / os):int(y2 / os), int(x1 / os):int(x2 / os)] = hr_seg
    return att * hr_ins + up_lr_seg


def test_hrda_fusion_matches_reference(hrda):
    torch.manual_seed(1)
    lr, att, hr = torch.randn(2, 5, 16, 24), torch.rand(2, 5, 16, 24), torch.randn(2, 5, 16, 16)
    box = (40, 56, 104, 120)  # (y0, x0, y1, x1) in a 128×192 context
    ours = hrda.fuse(lr, att, hr, (32, 48), box)
    ref = _reference_fusion(lr, att, hr, (40, 104, 56, 120))
    torch.testing.assert_close(ours, ref)
    # far from the crop the fused map is the upsampled LR prediction
    up_lr = F.interpolate(lr, size=(32, 48), mode="bilinear", align_corners=False)
    torch.testing.assert_close(ours[..., :8, :], up_lr[..., :8, :])


def test_hrda_forward_uses_lr_outside_crop(hrda):
    hrda.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = hrda(x, crop_box=(0, 0, 32, 32))
        lr_logits, att = hrda.lr_pass(x)
    up_lr = F.interpolate(lr_logits, size=(16, 16), mode="bilinear", align_corners=False)
    # the bilinear ×2 upsampling of the masked attention reaches one cell past the crop
    torch.testing.assert_close(out["logits"][..., 9:, :], up_lr[..., 9:, :])
    torch.testing.assert_close(out["logits"][..., :, 9:], up_lr[..., :, 9:])
    assert not torch.allclose(out["logits"][..., :7, :7], up_lr[..., :7, :7])


def test_hrda_crop_rng_deterministic_and_resumable():
    a, b = tiny_hrda(seed=3), tiny_hrda(seed=3)
    a.train(), b.train()
    boxes_a = [a.draw_crop_box(256, 192) for _ in range(6)]
    assert [b.draw_crop_box(256, 192) for _ in range(6)] == boxes_a
    assert len(set(boxes_a)) > 1
    assert all(v % 8 == 0 for box in boxes_a for v in box)
    assert int(a.crop_step) == 6
    # resume: a fresh model loading the state continues the same sequence
    c = tiny_hrda(seed=3)
    c.train()
    c.load_state_dict(a.state_dict())
    assert c.draw_crop_box(256, 192) == a.draw_crop_box(256, 192)
    # loading a state into a model that has drawn already restarts from the loaded step
    c.load_state_dict(b.state_dict())
    assert c.draw_crop_box(256, 192) == b.draw_crop_box(256, 192) and int(c.crop_step) == 7
    # another seed gives other boxes; eval mode gives the centred box without advancing
    d = tiny_hrda(seed=4)
    d.train()
    assert [d.draw_crop_box(256, 192) for _ in range(6)] != boxes_a
    d.eval()
    assert d.draw_crop_box(256, 192) == (112, 80, 144, 112) and int(d.crop_step) == 6
    # crop never larger than the input
    assert d.draw_crop_box(24, 16) == (0, 0, 24, 16)


def test_hrda_rejects_misaligned_sizes():
    with pytest.raises(ValueError, match="hr_crop_size"):
        tiny_hrda(hr_crop_size=60)
    with pytest.raises(ValueError, match="crop_divisor"):
        tiny_hrda(crop_divisor=4)
    net = tiny_hrda()
    with pytest.raises(ValueError, match="multiple of"):
        net(torch.randn(1, 3, 100, 100))
    with pytest.raises(ValueError, match="crop box"):
        net(torch.randn(1, 3, 64, 64), crop_box=(4, 0, 36, 32))


def test_hrda_training_step_loss_decreases():
    net = tiny_hrda(num_classes=3, dropout=0.0)
    net.train()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    labels = torch.zeros(2, 64, 64, dtype=torch.long)
    labels[:, :, 32:] = 1
    labels[:, 48:, :] = 2
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        out = net(x)
        fused = F.interpolate(out["logits"], size=(64, 64), mode="bilinear", align_corners=False)
        loss = out["logits_weight"] * F.cross_entropy(fused, labels)
        for aux in out["aux"]:
            y0, x0, y1, x1 = aux["box"]
            crop = labels[:, y0:y1, x0:x1]
            logits = F.interpolate(aux["logits"], size=crop.shape[-2:], mode="bilinear", align_corners=False)
            loss = loss + aux["weight"] * F.cross_entropy(logits, crop)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-2:]) / 2 < 0.7 * losses[0], losses


# -------------------------------------------------------------------- HRDA inference
@pytest.mark.parametrize("size", [(64, 64), (50, 75), (72, 136)])
def test_hrda_inference_shapes(hrda, size):
    hrda.eval()
    logits = hrda.inference(torch.randn(1, 3, *size))
    assert logits.shape == (1, 5, *size) and torch.isfinite(logits).all()


def test_hrda_slide_single_window_equals_whole():
    net = tiny_hrda(slide_window=(64, 128), slide_stride=(32, 64)).eval()
    x = torch.randn(2, 3, 64, 96)
    assert torch.equal(net.inference(x), net.whole_inference(x))


def test_hrda_slide_window_equals_stride_tiles(hrda):
    hrda.eval()
    x = torch.randn(1, 3, 64, 128)
    hrda.slide_window, hrda.slide_stride = (64, 64), (64, 64)
    try:
        out = hrda.inference(x)
    finally:
        hrda.slide_window, hrda.slide_stride = (64, 64), (32, 32)
    tiles = torch.cat([hrda.whole_inference(x[..., :64]), hrda.whole_inference(x[..., 64:])], dim=-1)
    torch.testing.assert_close(out, tiles)
    # overlapping windows: the average of the three windows' predictions
    out = hrda.inference(x)
    acc = torch.zeros_like(out)
    cnt = torch.zeros(1, 1, 64, 128)
    for x0 in (0, 32, 64):
        acc[..., x0:x0 + 64] += hrda.whole_inference(x[..., x0:x0 + 64])
        cnt[..., x0:x0 + 64] += 1
    torch.testing.assert_close(out, acc / cnt)


def test_hrda_constant_heads_give_constant_output():
    net = tiny_hrda().eval()
    with torch.no_grad():
        net.decode_head.head.conv_seg.weight.zero_()
        net.decode_head.head.conv_seg.bias.copy_(torch.arange(5.0))
    logits = net.inference(torch.randn(1, 3, 72, 136))  # padded windows, overlaps, HR slide
    torch.testing.assert_close(logits, torch.arange(5.0).view(1, 5, 1, 1).expand_as(logits))


def test_hrda_hr_slide_single_crop_equals_direct(hrda):
    hrda.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        direct, _ = hrda.decode_head.head(hrda.backbone(x))
        torch.testing.assert_close(hrda.hr_slide_logits(x), direct)


def test_hrda_head_parameters_cover_both_heads(hrda):
    head = {id(p) for p in hrda.head_parameters()}
    assert {id(p) for p in hrda.decode_head.scale_attention.parameters()} <= head
    assert not head & {id(p) for p in hrda.backbone.parameters()}
    assert hrda.size_divisor == 64 and hrda.num_classes == 5


# ------------------------------------------------------------------------- configs
def _compose_model(name: str, seed: int):
    """conf/train.yaml with model=name (its nested shade / feature_distance defaults resolved)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF.parent), version_base="1.3"):
        return compose(config_name="train", overrides=[f"model={name}", f"seed={seed}",
                                                       "paths.pretrained_dir=data/pretrained"])


@pytest.mark.parametrize("name", ["daformer_mitb0", "hrda_mitb0"])
def test_small_model_configs_instantiate(name):
    net = instantiate(_compose_model(name, 0).model)
    assert net.num_classes == 19
    net.eval()
    assert net.inference(torch.randn(1, 3, 64, 128)).shape == (1, 19, 64, 128)


@pytest.mark.parametrize(
    "name,target",
    [(f"daformer_mitb{i}", "flexseg.models.daformer.DAFormer") for i in range(1, 6)]
    + [("hrda_mitb5", "flexseg.models.hrda.HRDA")],
)
def test_large_model_configs(name, target):
    cfg = OmegaConf.to_container(_compose_model(name, 7).model, resolve=True)
    assert cfg["_target_"] == target and cfg["encoder"] == f"mit_b{name[-1]}"
    assert cfg["pretrained"] == f"data/pretrained/mit_b{name[-1]}.pth"
    if target.endswith("HRDA"):
        assert cfg["seed"] == 7 and cfg["hr_crop_size"] == [512, 512] and cfg["slide_window"] == [1024, 1024]
