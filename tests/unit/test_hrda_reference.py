"""HRDA against straightforward loops written here (no helper of flexseg.models reused).

Inference: mmseg sliding windows over the image; in each window one LR pass at
lr_scale and HR detail crops (stride crop/2) placed back at their own position on the
1/4 grid and averaged; fusion up(att)·HR + up((1−att)·LR); the window's logits resized
to the window and averaged over overlapping windows. Training: the HR logits inserted
at the crop box, attention zeroed outside it. A mirrored, shifted or transposed crop
placement, a missing overlap average or a wrong attention mask fails these tests.
"""
import pytest
import torch
import torch.nn.functional as F

from flexseg.models.hrda import HRDA


def _net(**kw) -> HRDA:
    torch.manual_seed(0)
    net = HRDA(encoder="mit_b0", num_classes=5, hr_crop_size=(64, 64), slide_window=(128, 128),
               slide_stride=(64, 64), embed_dim=16, attention_embed_dim=16, dilations=(1, 2), dropout=0.0,
               pretrained=None, **kw)
    return net.eval()


def _windows(size: int, win: int, stride: int) -> list[int]:
    """Start offsets of mmseg's grid along one axis (last window shifted back inside)."""
    n = max(size - win + stride - 1, 0) // stride + 1
    return [max(min(i * stride + win, size) - win, 0) for i in range(n)]


def _up(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _reference_window(net: HRDA, win: torch.Tensor) -> torch.Tensor:
    """Fused logits of one window [1,3,h,w] at the window's resolution, by loops."""
    h, w = win.shape[-2:]
    lr_in = F.interpolate(win, scale_factor=0.5, mode="bilinear", align_corners=False)
    feats = net.backbone(lr_in)
    lr_logits = net.decode_head.head(feats)[0]
    att = torch.sigmoid(net.decode_head.scale_attention(feats)[0])
    hr_sum = torch.zeros(1, 5, h // 4, w // 4)
    hr_cnt = torch.zeros(1, 1, h // 4, w // 4)
    for y0 in _windows(h, 64, 32):
        for x0 in _windows(w, 64, 32):
            crop_logits = net.decode_head.head(net.backbone(win[:, :, y0:y0 + 64, x0:x0 + 64]))[0]
            hr_sum[:, :, y0 // 4:(y0 + 64) // 4, x0 // 4:(x0 + 64) // 4] += crop_logits
            hr_cnt[:, :, y0 // 4:(y0 + 64) // 4, x0 // 4:(x0 + 64) // 4] += 1
    hr = hr_sum / hr_cnt
    fused = _up(att, (h // 4, w // 4)) * hr + _up((1 - att) * lr_logits, (h // 4, w // 4))
    return _up(fused, (h, w))


@torch.no_grad()
def test_slide_inference_matches_loop_reference():
    net = _net()
    g = torch.Generator().manual_seed(1)
    H, W = 192, 320  # 2×4 windows of 128 with stride 64; 3×3 HR crops of 64 in each
    img = torch.randn(1, 3, H, W, generator=g)
    got = net.inference(img)
    out = torch.zeros(1, 5, H, W)
    cnt = torch.zeros(1, 1, H, W)
    for y0 in _windows(H, 128, 64):
        for x0 in _windows(W, 128, 64):
            out[:, :, y0:y0 + 128, x0:x0 + 128] += _reference_window(net, img[:, :, y0:y0 + 128, x0:x0 + 128])
            cnt[:, :, y0:y0 + 128, x0:x0 + 128] += 1
    ref = out / cnt
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-4, rtol=1e-4)
    # the HR crops matter: without them the result is different (the test can fail)
    assert (got - _up(net.lr_pass(img)[0], (H, W))).abs().max() > 1e-3


@torch.no_grad()
def test_training_fusion_inserts_hr_logits_at_the_crop_box():
    net = _net()
    g = torch.Generator().manual_seed(2)
    img = torch.randn(2, 3, 128, 192, generator=g)
    box = (32, 96, 96, 160)  # (y0, x0, y1, x1), multiples of 8, off-centre on purpose
    out = net(img, crop_box=box)
    y0, x0, y1, x1 = box
    lr_in = F.interpolate(img, scale_factor=0.5, mode="bilinear", align_corners=False)
    feats = net.backbone(lr_in)
    lr_logits = net.decode_head.head(feats)[0]
    att = torch.sigmoid(net.decode_head.scale_attention(feats)[0])
    mask = torch.zeros_like(att)
    mask[:, :, y0 // 8:y1 // 8, x0 // 8:x1 // 8] = 1  # LR grid: stride 8
    att = att * mask
    hr_logits, hr_feats = net.decode_head.head(net.backbone(img[:, :, y0:y1, x0:x1]))
    hr_full = torch.zeros(2, 5, 32, 48)
    hr_full[:, :, y0 // 4:y1 // 4, x0 // 4:x1 // 4] = hr_logits
    ref = _up(att, (32, 48)) * hr_full + _up((1 - att) * lr_logits, (32, 48))
    assert torch.allclose(out["logits"], ref, atol=1e-5)
    assert torch.allclose(out["features"], hr_feats, atol=1e-5)
    assert tuple(out["features_box"]) == box
    assert torch.allclose(out["aux"][0]["logits"], hr_logits, atol=1e-5)
    assert out["aux"][0]["weight"] == pytest.approx(0.1) and out["logits_weight"] == pytest.approx(0.9)


@torch.no_grad()
def test_lr_auxiliary_loss_uses_the_attention_scaled_lr_logits():
    """lr_loss_weight > 0 (not used by the recipes): as lhoyer/HRDA's HRDAHead, the LR term
    sees (1 − attention masked to the crop)·LR logits."""
    net = _net(lr_loss_weight=0.2)
    img = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(3))
    box = (0, 64, 64, 128)
    out = net(img, crop_box=box)
    lr_logits, att = net.lr_pass(img)
    mask = torch.zeros_like(att)
    mask[:, :, 0:8, 8:16] = 1
    lr_aux = [a for a in out["aux"] if a["box"] is None]
    assert len(lr_aux) == 1 and lr_aux[0]["weight"] == pytest.approx(0.2)
    assert torch.allclose(lr_aux[0]["logits"], (1 - att * mask) * lr_logits, atol=1e-6)
    assert out["logits_weight"] == pytest.approx(0.7)
