"""ImageNet feature distance against slow references (flexseg.models.feature_distance)."""
import pytest
import torch

from flexseg.models.feature_distance import (
    THING_CLASSES,
    FrozenEncoder,
    downscale_label_ratio,
    fd_options,
    feature_distance_loss,
    masked_feature_distance,
)
from flexseg.utils.config import ConfigError
from tests.conf_values import fd_values, shade_values


def _downscale_slow(labels, s, min_ratio, n, ignore=255):
    B, H, W = labels.shape
    out = torch.empty(B, H // s, W // s, dtype=torch.long)
    for b in range(B):
        for i in range(H // s):
            for j in range(W // s):
                cell = labels[b, i * s:(i + 1) * s, j * s:(j + 1) * s].flatten().tolist()
                counts = {}
                for v in cell:
                    key = n if v == ignore else v
                    counts[key] = counts.get(key, 0) + 1
                best = min(counts, key=lambda c: (-counts[c], c))  # most frequent, ties → lowest id
                ratio = counts[best] / len(cell)
                out[b, i, j] = ignore if best == n or ratio < min_ratio else best
    return out


@pytest.mark.parametrize("scale", [2, 4])
def test_downscale_label_ratio_matches_loops(scale):
    g = torch.Generator().manual_seed(scale)
    labels = torch.randint(0, 4, (2, 12, 16), generator=g)
    labels[:, :4, :4] = 2  # a pure cell
    labels[0, -4:, -4:] = 255
    got = downscale_label_ratio(labels, scale, 0.5, 19)
    assert torch.equal(got, _downscale_slow(labels, scale, 0.5, 19))
    assert got[0, 0, 0] == 2 and got[0, -1, -1] == 255


def test_downscale_label_ratio_min_ratio_and_bad_labels():
    lab = torch.tensor([[[1, 1, 1, 2]]]).expand(1, 4, 4).clone()  # 75 % class 1 in each 4×4 cell
    assert downscale_label_ratio(lab, 4, 0.75, 19).item() == 1
    assert downscale_label_ratio(lab, 4, 0.76, 19).item() == 255
    with pytest.raises(ValueError):
        downscale_label_ratio(torch.full((1, 4, 4), 30), 2, 0.5, 19)


def test_masked_feature_distance_matches_loop_and_empty_mask_is_zero_without_gradient():
    torch.manual_seed(0)
    f1 = torch.randn(2, 5, 3, 3, requires_grad=True)
    f2 = torch.randn(2, 5, 3, 3)
    mask = torch.rand(2, 3, 3) > 0.5
    got, n = masked_feature_distance(f1, f2, mask)
    vals = [float(((f1.detach()[b, :, i, j] - f2[b, :, i, j]) ** 2).sum().sqrt()) for b in range(2) for i in range(3)
            for j in range(3) if mask[b, i, j]]
    assert n.item() == len(vals) and got.item() == pytest.approx(sum(vals) / len(vals), rel=1e-5)
    empty, n0 = masked_feature_distance(f1, f2, torch.zeros(2, 3, 3, dtype=torch.bool))
    empty.backward()
    assert empty.item() == 0 and n0.item() == 0 and torch.count_nonzero(f1.grad) == 0


def test_feature_distance_loss_uses_thing_pixels_at_feature_resolution():
    labels = torch.zeros(1, 64, 64, dtype=torch.long)  # road everywhere …
    labels[:, :32, :32] = 13  # … a car in the top-left quarter
    feats = torch.zeros(1, 2, 2, 2)
    imnet = torch.zeros(1, 2, 2, 2)
    feats[0, 0, 0, 0] = 3.0  # differs on the car cell
    feats[0, 0, 1, 1] = 100.0  # and on a road cell, which must not count
    loss, n = feature_distance_loss(feats, imnet, labels, torch.tensor(THING_CLASSES), 0.75, 19)
    assert n.item() == 1 and loss.item() == pytest.approx(3.0)


def test_frozen_encoder_stays_frozen_and_in_eval():
    enc = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1), torch.nn.Dropout(0.5))
    with pytest.warns(UserWarning, match="pretrained"):
        frozen = FrozenEncoder(enc, None)
    frozen.train()
    assert not frozen.encoder.training and all(not p.requires_grad for p in frozen.parameters())
    enc[0].weight.data.add_(1.0)  # the trained encoder moves, the copy does not
    assert not torch.equal(frozen.encoder[0].weight, enc[0].weight)


def test_checkpoint_with_regularizers_evaluates_with_a_plain_model_and_back(tmp_path):
    """The frozen copy and SHADE's styles are training-only: flexseg.eval's loader skips them."""
    import warnings

    from flexseg.models.daformer import DAFormer
    from flexseg.models.weights import load_any_checkpoint

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trained = DAFormer("mit_b0", num_classes=19, embed_dim=32, shade=shade_values(),
                           feature_distance=fd_values())
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in trained.state_dict().items()}}, path)
    plain = DAFormer("mit_b0", num_classes=19, embed_dim=32)
    assert load_any_checkpoint(plain, path) == "lightning"
    assert torch.equal(plain.decode_head.conv_seg.weight, trained.decode_head.conv_seg.weight)
    torch.save({"state_dict": {f"net.{k}": v for k, v in plain.state_dict().items()}}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = DAFormer("mit_b0", num_classes=19, embed_dim=32, feature_distance=fd_values())
    assert load_any_checkpoint(again, path) == "lightning"


def test_feature_distance_any_crop_size_fits_the_label_grid():
    """H=100, W=1000: MiT's last stage is 4×32, W // 32 = 31 gives a 3×32 label grid: the
    missing row is ignored (the reference would fail on the shape mismatch)."""
    labels = torch.full((1, 100, 1000), 13)
    feats, imnet = torch.ones(1, 2, 4, 32), torch.zeros(1, 2, 4, 32)
    loss, n = feature_distance_loss(feats, imnet, labels, torch.tensor(THING_CLASSES), 0.75, 19)
    assert n.item() == 3 * 32 and loss.item() == pytest.approx(2 ** 0.5)
    loss, n = feature_distance_loss(torch.ones(1, 2, 2, 32), torch.zeros(1, 2, 2, 32), labels,
                                    torch.tensor(THING_CLASSES), 0.75, 19)
    assert n.item() == 2 * 32  # a larger label grid is cropped


def test_options_are_the_conf_files_every_key_required():
    """conf/model/feature_distance/ is the one home of the values: every key is required,
    a missing or unknown one names it and the file; None = off."""
    values = fd_values()
    assert fd_options(values) == values and tuple(values["classes"]) == THING_CLASSES
    assert fd_options(None) == {"enabled": False}
    with pytest.raises(ConfigError, match=r"missing model\.feature_distance\.min_ratio .*things\.yaml"):
        fd_options({k: v for k, v in values.items() if k != "min_ratio"})
    with pytest.raises(ConfigError, match=r"unknown model\.feature_distance\.lambda"):
        fd_options(values | {"lambda": 1.0})
