"""SegModule's training loss computed by hand from the pure functions (docs/recipe.md):
HRDA 0.9·L_seg(fused) + 0.1·L_seg(HR crop) + λ_gap·L_GAP; DAFormer with the ImageNet
feature distance and SHADE; and configure_optimizers' groups."""
from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from flexseg.flex.boundaries import boundary_bands, granularity_map
from flexseg.flex.criterion import FlexCriterion
from flexseg.flex.gap import downsample_labels, gap_loss, sample_boundary_indices
from flexseg.flex.ube import ube_loss
from flexseg.models.daformer import DAFormer
from flexseg.models.feature_distance import THING_CLASSES, downscale_label_ratio
from flexseg.models.hrda import HRDA
from flexseg.models.shade import style_consistency_loss
from flexseg.module import SegModule
from tests.conf_values import criterion_kwargs, fd_values, module_kwargs, shade_values

C = 19


def _labels(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, C, (b, 1, h // 8, w // 8), generator=g).float()
    lab = F.interpolate(coarse, size=(h, w), mode="nearest")[:, 0].long()
    lab[:, :4, :] = 255
    return lab


def _batch(b: int, h: int, w: int) -> dict:
    g = torch.Generator().manual_seed(1)
    return {"image": torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8), "label": _labels(b, h, w),
            "index": torch.arange(b)}


def _gap_by_hand(crit: FlexCriterion, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_GAP with the generator state, bank and projection of ``crit`` (a copy taken
    before SegModule ran), from gap_loss (the public pure function)."""
    ks = crit.kernel_sizes
    low = downsample_labels(labels, features.shape[-2:])
    gran = granularity_map(low, ks, 255)
    idx, valid = sample_boundary_indices(low, gran, C, int(crit.gap_cfg["max_pixels"]), crit.generator)
    emb = crit.projection(features)  # [B,D,h,w] unit vectors (BN over all pixels in train mode)
    flat = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1])
    sel = idx[valid]
    return gap_loss(flat[sel], low.reshape(-1)[sel], gran.reshape(-1)[sel], crit.bank.prototypes.clone(),
                    crit.bank.weights(), tau=float(crit.gap_cfg["tau"]))


def _prime_bank(crit: FlexCriterion) -> None:
    g = torch.Generator().manual_seed(5)
    n = 300
    f = F.normalize(torch.randn(n, crit.bank.prototypes.shape[-1], generator=g), dim=1)
    crit.bank.update(f, torch.randint(0, C, (n,), generator=g), torch.randint(0, 3, (n,), generator=g))


def test_hrda_loss_is_weighted_fused_plus_hr_plus_unscaled_gap():
    lam = 0.3
    torch.manual_seed(0)
    net = HRDA("mit_b0", num_classes=C, hr_crop_size=(32, 64), slide_window=None, embed_dim=64,
               attention_embed_dim=32, dropout=0.0)
    crit = FlexCriterion(C, feature_dim=64, **criterion_kwargs(ube={"alpha": 2.0},
                                                               gap={"weight": lam, "proj_dim": 16, "max_pixels": 256}, seed=3))
    _prime_bank(crit)
    module = SegModule(net, crit, **module_kwargs()).train()
    batch = _batch(2, 64, 128)
    crit0 = copy.deepcopy(crit)
    torch.manual_seed(7)
    losses = module.compute_losses(batch)

    # by hand: the same forward (same crop, same drop-path draws), CE/UBE and GAP from the pure functions
    net.crop_step.zero_()
    net._host_crop_step = None
    torch.manual_seed(7)
    out = net(module.normalize(batch["image"]))
    y0, x0, y1, x1 = out["features_box"]
    lab = batch["label"]
    lab_hr = lab[:, y0:y1, x0:x1]

    def ube(logits, target):
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        return ube_loss(logits, target, boundary_bands(target, (7,), 255)[:, 0], alpha=2.0)

    fused, hr = ube(out["logits"], lab), ube(out["aux"][0]["logits"], lab_hr)
    gap = _gap_by_hand(crit0, out["features"], lab_hr)
    expected = 0.9 * fused + 0.1 * hr + lam * gap
    assert gap.item() > 0.1
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert losses["loss_gap"].item() == pytest.approx(gap.item(), rel=1e-5)
    # the old rule (GAP inside the 0.9-weighted term) differs by 0.1·λ·L_GAP: the test tells them apart
    assert abs(losses["loss"].item() - (expected - 0.1 * lam * gap).item()) > 1e-3
    # HAS per-image losses: the same weights on the images' own segmentation losses, no GAP
    per_f = crit0.segmentation_loss(F.interpolate(out["logits"], size=lab.shape[-2:], mode="bilinear"), lab)["per_image"]
    per_h = crit0.segmentation_loss(F.interpolate(out["aux"][0]["logits"], size=lab_hr.shape[-2:], mode="bilinear"),
                                    lab_hr)["per_image"]
    assert torch.allclose(losses["per_image"], 0.9 * per_f + 0.1 * per_h, rtol=1e-5)


def test_daformer_loss_with_feature_distance_and_shade():
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="pretrained"):
        net = DAFormer("mit_b0", num_classes=C, embed_dim=32, dropout=0.0,
                       shade=shade_values(consistency_weight=4.0),
                       feature_distance=fd_values(weight=0.5, min_ratio=0.5), seed=2)
    with torch.no_grad():  # move the trained encoder away from its frozen copy
        for p in net.backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))
    crit = FlexCriterion(C, feature_dim=32, **criterion_kwargs(ube=None, gap=None))
    module = SegModule(net, crit, **module_kwargs()).train()
    sh = net.backbone.style_hallucination
    sh.set_styles(torch.randn(32, 32), torch.rand(32, 32) + 0.5)
    batch = _batch(2, 64, 64)
    labels = batch["label"].clone()
    labels[:, 32:, :32] = 13  # a car: thing pixels for the feature distance
    batch["label"] = labels
    rng = copy.deepcopy(sh.rng.bit_generator.state)
    torch.manual_seed(3)
    losses = module.compute_losses(batch)

    sh.rng.bit_generator.state = rng
    torch.manual_seed(3)
    x = module.normalize(batch["image"])
    feats = net.backbone(x)
    assert feats[0].shape[0] == 4  # [originals; hallucinated]
    logits, _ = net.decode_head(feats)
    lab2 = torch.cat([labels, labels])
    ce = F.cross_entropy(F.interpolate(logits, size=(64, 64), mode="bilinear"), lab2, ignore_index=255)
    imnet = net.fd_encoder.encoder(x)[-1].repeat(2, 1, 1, 1)
    low = downscale_label_ratio(lab2, 64 // feats[-1].shape[-1], 0.5, C)
    mask = torch.isin(low, torch.tensor(THING_CLASSES))
    dist = torch.norm(feats[-1] - imnet, dim=1)[mask].mean()
    cons = style_consistency_loss(logits, 4.0)
    assert mask.sum() > 0 and dist.item() > 0
    assert losses["loss_fd"].item() == pytest.approx(dist.item(), rel=1e-5)
    assert losses["loss_style"].item() == pytest.approx(cons.item(), rel=1e-5)
    assert losses["loss"].item() == pytest.approx((ce + 0.5 * dist + cons).item(), rel=1e-5)
    assert losses["per_image"].shape == (2,)  # the two copies of an image are averaged for HAS
    # the frozen copy gets no gradient and is not in the optimizer
    losses["loss"].backward()
    assert all(p.grad is None for p in net.fd_encoder.parameters())


def _groups(module: SegModule) -> list[dict]:
    """Parameter groups (``initial_lr`` = the group's lr before the schedule's factor)."""
    module._trainer = SimpleNamespace(max_steps=100)
    return module.configure_optimizers()["optimizer"].param_groups


def test_configure_optimizers_mmcv_rule():
    torch.manual_seed(0)
    with pytest.warns(UserWarning):
        net = DAFormer("mit_b0", num_classes=C, embed_dim=32, feature_distance=fd_values())
    crit = FlexCriterion(C, feature_dim=32, **criterion_kwargs(gap={"proj_dim": 16}))
    # adamw_poly: head ×10, weight decay 0.01, the mmcv rule
    module = SegModule(net, crit, **module_kwargs("adamw_poly", **{"optimizer.lr": 1e-4}))
    groups = _groups(module)
    setting = {id(p): (g["initial_lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    named = dict(module.named_parameters())
    assert sum(len(g["params"]) for g in groups) == len(setting)
    for name, p in named.items():
        if name.startswith("net.fd_encoder."):
            assert id(p) not in setting  # frozen ImageNet copy: not optimized
            continue
        head = name.startswith(("net.decode_head.", "criterion."))
        lr = 1e-3 if head else 1e-4
        wd = 0.0 if (not head and "norm" in name) else 0.01
        assert setting[id(p)] == pytest.approx((lr, wd)), name
    # spot checks of the reference rule: encoder biases and the head's BatchNorm are decayed
    assert setting[id(named["net.backbone.mit.block1.0.attn.q.bias"])] == pytest.approx((1e-4, 0.01))
    assert setting[id(named["net.backbone.mit.block1.0.norm1.weight"])] == pytest.approx((1e-4, 0.0))
    assert setting[id(named["net.decode_head.fuse_layer.bottleneck.bn.weight"])] == pytest.approx((1e-3, 0.01))
    assert setting[id(named["criterion.projection.conv1.weight"])] == pytest.approx((1e-3, 0.01))


def test_configure_optimizers_ndim_rule_is_the_synthdrive_one():
    torch.manual_seed(0)
    net = DAFormer("mit_b0", num_classes=C, embed_dim=32)
    crit = FlexCriterion(C, feature_dim=32, **criterion_kwargs(gap=None))
    module = SegModule(net, crit, **module_kwargs(**{"optimizer.lr": 1e-3, "param_groups.head_lr_mult": 2.0,
                                                     "param_groups.decay_rule": "ndim"}))
    groups = _groups(module)
    setting = {id(p): (g["initial_lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    for name, p in module.named_parameters():
        head = name.startswith("net.decode_head.")
        wd = 0.0 if (p.ndim <= 1 or name.endswith(".bias")) else 0.01
        assert setting[id(p)] == pytest.approx((2e-3 if head else 1e-3, wd)), name


def test_loss_normalization_all_is_mmseg_cross_entropy():
    """normalize="all": the mean over every pixel with ignored ones counting 0 (mmseg's
    CrossEntropyLoss with reduction mean); "valid": F.cross_entropy's mean over valid pixels."""
    torch.manual_seed(0)
    logits, labels = torch.randn(2, C, 16, 16), _labels(2, 16, 16)
    ce = F.cross_entropy(logits, labels, ignore_index=255, reduction="none")
    allpix = FlexCriterion(C, feature_dim=1, **criterion_kwargs(ube=None, gap=None, normalize="all"))
    valid = FlexCriterion(C, feature_dim=1, **criterion_kwargs(ube=None, gap=None, normalize="valid"))
    allpix, valid = allpix.segmentation_loss(logits, labels), valid.segmentation_loss(logits, labels)
    assert allpix["loss"].item() == pytest.approx(ce.mean().item(), rel=1e-6)
    assert valid["loss"].item() == pytest.approx(F.cross_entropy(logits, labels, ignore_index=255).item(), rel=1e-6)
    assert allpix["loss"].item() < valid["loss"].item()  # 4 of 16 rows are ignored
    assert torch.equal(allpix["per_image"], valid["per_image"])  # HAS difficulty: valid-pixel mean either way
    with pytest.raises(ValueError, match="flex.loss_normalization"):
        FlexCriterion(C, feature_dim=1, **criterion_kwargs(normalize="sum"))


def test_hrda_feature_distance_uses_the_lr_view_and_shade_doubles_both_passes():
    """HRDA as DGInStyle's id 61: FD on the 0.5-scale context view's last stage vs the whole
    context labels; SHADE hallucinates the LR and the HR pass; consistency on fused logits."""
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="pretrained"):
        net = HRDA("mit_b0", num_classes=C, hr_crop_size=(64, 64), slide_window=None, embed_dim=32,
                   attention_embed_dim=16, dropout=0.0, shade=shade_values(),
                   feature_distance=fd_values(min_ratio=0.5))
    with torch.no_grad():
        for p in net.backbone.parameters():
            p.add_(0.05 * torch.randn_like(p))
    sh = net.backbone.style_hallucination
    sh.set_styles(torch.randn(32, 32), torch.rand(32, 32) + 0.5)
    module = SegModule(net, FlexCriterion(C, feature_dim=32, **criterion_kwargs(ube=None, gap=None)),
                       **module_kwargs()).train()
    batch = _batch(2, 128, 128)
    batch["label"][:, 64:, :64] = 13  # a car in the context, outside most detail crops
    rng = copy.deepcopy(sh.rng.bit_generator.state)

    def replay():
        net.crop_step.zero_()
        net._host_crop_step = None
        sh.rng.bit_generator.state = copy.deepcopy(rng)
        torch.manual_seed(3)

    replay()
    losses = module.compute_losses(batch)
    x = module.normalize(batch["image"])
    replay()  # the LR pass is the forward's first encoder call: same SHADE and drop-path draws
    lr = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
    feats = net.backbone(lr)[-1]
    assert feats.shape[0] == 4
    imnet = net.fd_encoder.encoder(lr)[-1].repeat(2, 1, 1, 1)
    lab2 = torch.cat([batch["label"], batch["label"]])
    low = downscale_label_ratio(lab2, 128 // feats.shape[-1], 0.5, C)  # 64-px cells of the context
    mask = torch.isin(low, torch.tensor(THING_CLASSES))
    dist = torch.norm(feats - imnet, dim=1)[mask].mean()
    assert mask.sum() > 0 and losses["loss_fd"].item() == pytest.approx(dist.item(), rel=1e-5)
    replay()
    out = net(x)
    assert out["logits"].shape[0] == 4 and out["aux"][0]["logits"].shape[0] == 4
    assert losses["loss_style"].item() == pytest.approx(style_consistency_loss(out["logits"], 10.0).item(), rel=1e-5)
    assert losses["per_image"].shape == (2,)
