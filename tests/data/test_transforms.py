"""Sample transforms: eval resize rules, crop rules, flips, photometric distortion, RNG."""
from __future__ import annotations

import pytest
import torch

from flexseg.data.transforms import (
    Compose,
    EvalResize,
    GeneratedTransform,
    PhotoMetricDistortion,
    TrainTransform,
    choose_crop,
    crop_is_balanced,
    eval_size,
    resize_label,
)


def sample(h=36, w=64, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g),
        "label": torch.randint(0, classes, (h, w), generator=g),
        "index": 3, "path": "x.png", "domain": "gta",
    }


def gen(seed):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------- eval resize
@pytest.mark.parametrize(
    "hw, fit, expected",
    [
        ((1024, 2048), (1024, 512), (512, 1024)),    # Cityscapes
        ((720, 1280), (1024, 512), (512, 910)),      # BDD100K
        ((3024, 4032), (1024, 512), (512, 683)),     # Mapillary 4:3 landscape: short side 512
        ((4032, 3024), (1024, 512), (683, 512)),     # Mapillary portrait: short side 512
        ((1536, 2048), (1024, 512), (512, 683)),
        ((1000, 5000), (1024, 512), (205, 1024)),    # very wide: long side bound
        ((1052, 1914), (1280, 720), (704, 1280)),    # GTA for DAFormer training
        ((1024, 2048), (2048, 1024), (1024, 2048)),  # HRDA Cityscapes: native
        ((720, 1280), (2048, 1024), (1024, 1820)),   # HRDA BDD100K
    ],
)
def test_eval_size_keep_ratio_rule(hw, fit, expected):
    assert eval_size(*hw, fit, keep_ratio=True) == expected
    assert min(expected) in (min(fit), round(min(hw) * max(fit) / max(hw)))


def test_eval_size_without_keep_ratio_is_exact():
    assert eval_size(1080, 1920, (960, 540), keep_ratio=False) == (540, 960)


def test_eval_resize_changes_only_the_image():
    s = sample(h=40, w=80)
    out = EvalResize(fit=(32, 16))(s)
    assert out["image"].shape == (3, 16, 32) and out["image"].dtype == torch.uint8
    assert out["label"] is s["label"] and out["path"] == "x.png" and out["index"] == 3
    out = EvalResize(size=[24, 13])(s)          # exact (W, H), Hydra lists accepted
    assert out["image"].shape == (3, 13, 24) and out["label"].shape == (40, 80)
    assert torch.equal(EvalResize()(s)["image"], s["image"])
    with pytest.raises(ValueError, match="not both"):
        EvalResize(fit=(1, 2), size=(1, 2))


# ---------------------------------------------------------------------- training
def test_train_transform_shapes_dtypes_and_label_values():
    s = sample(h=105, w=191)
    out = TrainTransform(resize=(64, 36), crop_size=(16, 16), generator=gen(0))(s)
    assert out["image"].shape == (3, 16, 16) and out["image"].dtype == torch.uint8
    assert out["label"].shape == (16, 16) and out["label"].dtype == torch.int64
    assert set(out["label"].unique().tolist()) <= set(s["label"].unique().tolist())
    assert out["index"] == 3 and out["domain"] == "gta"
    resized = TrainTransform(resize=(64, 36), crop_size=None, flip_p=0, photometric=False)(s)
    assert resized["image"].shape[1:] == eval_size(105, 191, (64, 36)) == resized["label"].shape


def test_train_transform_is_reproducible_from_a_generator():
    s = sample()
    t = TrainTransform(resize=None, crop_size=(16, 16))
    a, b, c = t(s, generator=gen(1)), t(s, generator=gen(1)), t(s, generator=gen(2))
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert not torch.equal(a["image"], c["image"])
    assert t.accepts_generator
    # global RNG when no generator is given (Lightning seeds it per worker)
    torch.manual_seed(5)
    d = t(s)
    torch.manual_seed(5)
    assert torch.equal(d["image"], t(s)["image"])


def test_small_images_are_padded_with_ignore():
    s = sample(h=10, w=12)
    out = TrainTransform(resize=None, crop_size=(16, 16), flip_p=0, photometric=False)(s, generator=gen(0))
    assert out["image"].shape == (3, 16, 16)
    assert (out["label"][10:] == 255).all() and (out["label"][:, 12:] == 255).all()
    assert (out["image"][:, 10:] == 0).all()
    assert torch.equal(out["label"][:10, :12], s["label"])


def test_scale_range_changes_the_resize():
    s = sample(h=72, w=128)
    t = TrainTransform(resize=(64, 36), scale=(0.5, 2.0), crop_size=None, flip_p=0, photometric=False)
    heights = {t(s, generator=gen(i))["image"].shape[1] for i in range(8)}
    assert len(heights) > 1 and all(18 <= h <= 72 for h in heights)


def test_cat_max_ratio_rule_prefers_mixed_crops():
    label = torch.zeros(64, 64, dtype=torch.long)
    label[:, 40:] = 1
    label[:2] = 255  # ignored pixels do not count
    crop = lambda box: label[box[0] : box[0] + 16, box[1] : box[1] + 16]  # noqa: E731
    with_rule = sum(crop_is_balanced(crop(choose_crop(label, (16, 16), gen(i), 0.75)), 0.75) for i in range(100))
    without = sum(crop_is_balanced(crop(choose_crop(label, (16, 16), gen(i), 1.0)), 0.75) for i in range(100))
    assert with_rule >= 60 and without <= 35 and with_rule > 2 * without
    assert not crop_is_balanced(torch.full((4, 4), 255), 0.75)
    assert not crop_is_balanced(torch.zeros(4, 4, dtype=torch.long), 0.75)


def test_rare_class_rule_redraws_until_enough_pixels():
    label = torch.zeros(64, 64, dtype=torch.long)
    label[:24, :24] = 5
    s = {"image": torch.zeros(3, 64, 64, dtype=torch.uint8), "label": label, "sampled_class": 5}
    rule = TrainTransform(resize=None, crop_size=(16, 16), cat_max_ratio=1.0, flip_p=0, photometric=False,
                          min_class_pixels=20)
    plain = TrainTransform(resize=None, crop_size=(16, 16), cat_max_ratio=1.0, flip_p=0, photometric=False)
    hits = sum(int((rule(s, generator=gen(i))["label"] == 5).sum()) > 20 for i in range(60))
    base = sum(int((plain(s, generator=gen(i))["label"] == 5).sum()) > 20 for i in range(60))
    assert hits >= 45 and base <= 25
    no_class = {k: v for k, v in s.items() if k != "sampled_class"}
    rule(no_class, generator=gen(0))  # rule inactive without a sampled class


def test_flip_flips_image_and_label_together():
    s = sample()
    t = TrainTransform(resize=None, crop_size=None, flip_p=1.0, photometric=False)
    out = t(s, generator=gen(0))
    assert torch.equal(out["image"], s["image"].flip(-1)) and torch.equal(out["label"], s["label"].flip(-1))
    out = GeneratedTransform(flip_p=0.0, photometric=False)(s)
    assert torch.equal(out["image"], s["image"]) and torch.equal(out["label"], s["label"])


def test_photometric_changes_only_the_image():
    s = sample()
    t = GeneratedTransform(flip_p=0.0)
    outs = [t(s, generator=gen(i)) for i in range(6)]
    assert all(o["image"].dtype == torch.uint8 and o["image"].shape == s["image"].shape for o in outs)
    assert all(torch.equal(o["label"], s["label"]) for o in outs)
    assert sum(not torch.equal(o["image"], s["image"]) for o in outs) >= 4


def test_photometric_neutral_settings_are_near_identity():
    s = sample()
    neutral = PhotoMetricDistortion(brightness_delta=0, contrast_range=(1, 1), saturation_range=(1, 1), hue_delta=0)
    for i in range(4):
        diff = (neutral(s, generator=gen(i))["image"].int() - s["image"].int()).abs()
        assert diff.max() <= 1


def test_brightness_only_shifts_values():
    img = torch.full((3, 4, 4), 100, dtype=torch.uint8)
    t = PhotoMetricDistortion(brightness_delta=32, contrast_range=(1, 1), saturation_range=(1, 1), hue_delta=0)
    values = {int(t.distort(img, gen(i)).unique()[0]) for i in range(20)}
    assert all(68 <= v <= 132 for v in values) and len(values) > 3


def test_generated_transform_keeps_size_and_compose_passes_generator():
    s = sample(h=16, w=16)
    c = Compose([GeneratedTransform(), EvalResize(fit=(8, 8))])
    a, b = c(s, generator=gen(3)), c(s, generator=gen(3))
    assert torch.equal(a["image"], b["image"]) and a["image"].shape == (3, 8, 8) and a["label"].shape == (16, 16)


def test_resize_label_is_nearest():
    label = torch.arange(16).reshape(4, 4)
    assert torch.equal(resize_label(label, 2, 2), torch.tensor([[0, 2], [8, 10]]))
    assert torch.equal(resize_label(label, 8, 8)[::2, ::2], label)


def test_hue_shift_range_excludes_the_upper_bound(monkeypatch):
    """mmseg draws the hue shift with numpy's randint(-18, 18): −18 … 17."""
    import flexseg.data.transforms as T

    calls = []
    original = T._randint
    monkeypatch.setattr(T, "_randint", lambda lo, hi, gen: calls.append((lo, hi)) or original(lo, hi, gen))
    t = T.PhotoMetricDistortion()
    image = torch.full((3, 4, 4), 100, dtype=torch.uint8)
    for seed in range(20):
        t.distort(image, torch.Generator().manual_seed(seed))
    assert (-18, 18) in calls and (-18, 19) not in calls


# -------------------------------------------- the Rein family's pipelines (docs/vfm.md)
def shortest_edge_reference(h, w, short, max_size):
    """mmseg 1.x ResizeShortestEdge._get_output_shape, then mmcv's keep-ratio rescale to it."""
    scale = short / min(h, w)
    new_h, new_w = (short, scale * w) if h < w else (scale * h, short)
    if max(new_h, new_w) > max_size:
        s = max_size / max(new_h, new_w)
        new_h, new_w = new_h * s, new_w * s
    new_h, new_w = int(new_h + 0.5), int(new_w + 0.5)
    factor = min(max(new_h, new_w) / max(h, w), min(new_h, new_w) / min(h, w))
    return int(h * factor + 0.5), int(w * factor + 0.5)


REIN_SHORT_SIDES = [int(512 * x * 0.1) for x in range(5, 21)]   # Rein's RandomChoiceResize scales


@pytest.mark.parametrize("hw", [(1052, 1914), (1080, 1920), (512, 512), (1200, 1600), (3000, 800)])
def test_shortest_edge_size_is_mmsegs_rule(hw):
    from flexseg.data.transforms import shortest_edge_size

    for short in REIN_SHORT_SIDES:
        assert shortest_edge_size(*hw, short, 2048) == shortest_edge_reference(*hw, short, 2048)
    assert shortest_edge_size(1052, 1914, 1024, None) == (1024, 1863)


def test_short_side_choice_draws_from_the_list_and_crops():
    s = sample(h=105, w=191)   # GTA's aspect ratio at 1/10
    t = TrainTransform(resize=None, short_sides=[26, 51, 102], max_size=204, crop_size=(51, 51), cat_max_ratio=1.0,
                       flip_p=0, photometric=False)
    assert t.output_size(105, 191) == (51, 51)
    shapes = {t(s, generator=gen(i))["image"].shape for i in range(30)}
    assert shapes == {(3, 51, 51)}   # the 26-pixel draw is padded to the crop
    no_crop = TrainTransform(resize=None, short_sides=[26, 51, 102], max_size=204, crop_size=None, flip_p=0,
                             photometric=False)
    assert no_crop.output_size(105, 191) is None   # random
    sizes = {tuple(no_crop(s, generator=gen(i))["image"].shape[1:]) for i in range(30)}
    assert sizes == {shortest_edge_reference(105, 191, v, 204) for v in (26, 51, 102)}
    out = no_crop(s, generator=gen(5))
    assert out["label"].shape == out["image"].shape[1:] and torch.equal(no_crop(s, generator=gen(5))["image"], out["image"])
    with pytest.raises(ValueError, match="short_sides"):
        TrainTransform(resize=(64, 36), short_sides=[26])


def test_offline_resize_equals_pil_halving_and_jpeg():
    """OfflineResize(0.5) = what Rein's mapillary_resize.py writes: (w // 2, h // 2), image
    bicubic re-saved as JPEG (PIL's default quality 75), label nearest."""
    import io

    import numpy as np
    from PIL import Image

    from flexseg.data.transforms import OfflineResize

    s = sample(h=41, w=67, classes=19)
    s["label"][0, :5] = 255
    out = OfflineResize(0.5)(s)
    img = Image.fromarray(s["image"].permute(1, 2, 0).numpy()).resize((33, 20), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG")   # PIL's defaults, as Image.save("x.jpg")
    expected = np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert torch.equal(out["image"], torch.from_numpy(expected).permute(2, 0, 1))
    label = np.array(Image.fromarray(s["label"].numpy().astype(np.uint8)).resize((33, 20), Image.NEAREST))
    assert torch.equal(out["label"], torch.from_numpy(label).long()) and out["label"].dtype == torch.int64
    raw = OfflineResize(0.5, jpeg_quality=None)(s)["image"]
    assert torch.equal(raw, torch.from_numpy(np.array(img)).permute(2, 0, 1))
    # before an EvalResize: the image fit after halving, the label kept halved
    both = EvalResize(fit=(32, 16), before=OfflineResize(0.5))(s)
    assert tuple(both["image"].shape[1:]) == eval_size(20, 33, (32, 16)) and tuple(both["label"].shape) == (20, 33)


# ------------------------------------------------------------- call sites (issue 29)
# What each transform must hand to the helpers it calls (choose_crop, pad_to, resize_image,
# the flip and photometric draws): a dropped, defaulted or swapped argument fails one of these.


def _count_crop_draws(monkeypatch):
    import flexseg.data.transforms as T

    calls = []
    original = T.random_crop_box
    monkeypatch.setattr(T, "random_crop_box", lambda *a: calls.append(1) or original(*a))
    return calls


def test_train_transform_passes_crop_tries_and_class_tries(monkeypatch):
    """A label no crop can balance and that lacks the sampled class: every draw retries
    crop_tries times, and the class rule redraws class_tries times: (1 + class_tries)·(1 + crop_tries) boxes."""
    calls = _count_crop_draws(monkeypatch)
    s = {"image": torch.zeros(3, 32, 32, dtype=torch.uint8), "label": torch.zeros(32, 32, dtype=torch.long),
         "sampled_class": 4}
    t = TrainTransform(resize=None, crop_size=(8, 8), cat_max_ratio=0.75, crop_tries=3, flip_p=0, photometric=False,
                       min_class_pixels=5, class_tries=2)
    t(s, generator=gen(0))
    assert len(calls) == (1 + 2) * (1 + 3)


def test_train_transform_passes_its_ignore_index_to_the_crop_rule_and_the_padding(monkeypatch):
    """ignore_index 250: the 250 pixels do not count as a class (a crop of 1s and 250s is not
    balanced: crop_tries re-draws), and the padding of a small image is 250."""
    calls = _count_crop_draws(monkeypatch)
    label = torch.ones(16, 16, dtype=torch.long)
    label[:, ::2] = 250
    s = {"image": torch.zeros(3, 16, 16, dtype=torch.uint8), "label": label}
    t = TrainTransform(resize=None, crop_size=(8, 8), cat_max_ratio=0.75, crop_tries=4, flip_p=0, photometric=False,
                       ignore_index=250)
    t(s, generator=gen(0))
    assert len(calls) == 1 + 4
    calls.clear()
    TrainTransform(resize=None, crop_size=(8, 8), cat_max_ratio=0.75, crop_tries=4, flip_p=0, photometric=False)(
        s, generator=gen(0))
    assert len(calls) == 1  # with ignore 255 the same crop holds two classes 50/50: balanced at once
    small = {"image": torch.zeros(3, 6, 8, dtype=torch.uint8), "label": torch.zeros(6, 8, dtype=torch.long)}
    out = t(small, generator=gen(0))
    assert (out["label"][6:] == 250).all() and (out["label"][:6] == 0).all()


@pytest.mark.parametrize("make", [lambda a: TrainTransform(resize=(24, 16), keep_ratio=False, crop_size=None, flip_p=0,
                                                           photometric=False, antialias=a),
                                  lambda a: GeneratedTransform(resize=(24, 16), keep_ratio=False, flip_p=0, photometric=False,
                                                               antialias=a)])
def test_transforms_pass_antialias_to_the_resize(make):
    import torch.nn.functional as F

    s = sample(h=64, w=96)
    expected = {a: F.interpolate(s["image"][None].float(), size=(16, 24), mode="bilinear", align_corners=False,
                                 antialias=a)[0] for a in (False, True)}
    for a in (False, True):
        got = make(a)(s, generator=gen(0))["image"].float()
        other = expected[not a]
        assert (got - expected[a]).abs().max() <= 1.0 < (got - other).abs().max()  # uint8 rounding


def test_scale_ratio_scales_both_sides():
    s = sample(h=72, w=128)
    t = TrainTransform(resize=(64, 32), scale=(0.5, 2.0), keep_ratio=False, crop_size=None, flip_p=0, photometric=False)
    for i in range(4):
        r = 0.5 + 1.5 * float(torch.rand((), generator=gen(i)))  # the first draw of the call-time generator
        assert tuple(t(s, generator=gen(i))["image"].shape[1:]) == (int(32 * r), int(64 * r))


@pytest.mark.parametrize("make", [lambda g: TrainTransform(resize=None, crop_size=(16, 16), generator=g),
                                  lambda g: GeneratedTransform(generator=g)])
def test_call_time_generator_drives_every_draw_and_the_own_one_is_used_without_it(make):
    """Crop, flip and photometric draws all come from the call-time generator (a transform with
    its own generator gives what one without gives); without it, from the transform's own."""
    s = sample()
    own, plain = make(gen(99)), make(None)
    for i in range(6):
        a, b = own(s, generator=gen(i)), plain(s, generator=gen(i))
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    torch.manual_seed(0)
    a = make(gen(7))(s)
    torch.manual_seed(1)  # the global RNG plays no part
    b = make(gen(7))(s)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])


def test_training_set_seeds_the_transform_with_the_aug_seed():
    """TransformedDataset[(i, aug_seed)] = transform(sample, generator seeded aug_seed mod 2⁶³)."""
    from flexseg.data.datamodule import TransformedDataset

    samples = [sample(seed=k) for k in range(3)]
    t = TrainTransform(resize=None, crop_size=(16, 16))
    ds = TransformedDataset(samples, t, offset=10)
    for aug in (5, 2**63 + 5, 123456789):
        torch.manual_seed(aug % 1000)  # the global RNG plays no part
        got = ds.__getitem__(1, aug)
        ref = t(dict(samples[1]), generator=gen(aug % 2**63))
        assert torch.equal(got["image"], ref["image"]) and torch.equal(got["label"], ref["label"]) and got["index"] == 11
