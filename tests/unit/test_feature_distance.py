"""ImageNet feature distance against slow references (flexseg.models.feature_distance)."""
import math

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


# ---------------------------------------------------------------------------------------------
# feature_distance_loss against a slow reference on labels whose cells have every majority
# ratio (issue 29: dropping min_ratio inside feature_distance_loss went unnoticed here, as
# no cell's majority class covered less than 75 %).

def _mixed_labels(b, cells_h, cells_w, s, seed, ignore=255):
    """labels [b, cells_h·s, cells_w·s]: each s×s cell holds a dominant class on a random
    number of its (s/2)² blocks (¼ … all of them), the other blocks random classes."""
    g = torch.Generator().manual_seed(seed)
    palette = [13, 11, 6, 0, 2, ignore]
    q = s // 2
    lab = torch.empty(b, cells_h * s, cells_w * s, dtype=torch.long)
    for bi in range(b):
        for i in range(cells_h):
            for j in range(cells_w):
                dominant = palette[int(torch.randint(len(palette), (1,), generator=g))]
                blocks = [dominant] * int(torch.randint(q, q * q + 1, (1,), generator=g))
                blocks += [palette[int(v)] for v in torch.randint(len(palette), (q * q - len(blocks),), generator=g)]
                order = torch.randperm(q * q, generator=g).tolist()
                for n, o in enumerate(order):
                    y, x = i * s + (o // q) * 2, j * s + (o % q) * 2
                    lab[bi, y:y + 2, x:x + 2] = blocks[n]
    return lab


def _cell_majority(cell, ignore):
    counts = {}
    for v in cell:
        counts[v] = counts.get(v, 0) + 1
    # most frequent; ties → the lowest class id, ignore after every class
    best = min(counts, key=lambda v: (-counts[v], v == ignore, v))
    return best, counts[best] / len(cell)


def _fd_slow(feats, imnet, labels, classes, min_ratio, ignore=255):
    """Mean over the feature cells whose s×s label cell (s = W // w) has a thing class as
    its majority covering >= min_ratio of it of ‖f − f_ImNet‖₂; cells without a full label
    cell do not count."""
    _, _, h, w = feats.shape
    H, W = labels.shape[-2:]
    s = W // w
    dists = []
    for b in range(feats.shape[0]):
        for i in range(h):
            for j in range(w):
                if (i + 1) * s > H or (j + 1) * s > W:
                    continue
                best, ratio = _cell_majority(labels[b, i * s:(i + 1) * s, j * s:(j + 1) * s].flatten().tolist(), ignore)
                if best != ignore and best in classes and ratio >= min_ratio:
                    dists.append(math.sqrt(sum((feats[b, c, i, j].item() - imnet[b, c, i, j].item()) ** 2
                                               for c in range(feats.shape[1]))))
    return (sum(dists) / len(dists) if dists else 0.0), len(dists)


@pytest.mark.parametrize("min_ratio", [0.75, 0.5, 0.3])
def test_feature_distance_loss_applies_the_given_min_ratio(min_ratio):
    labels = _mixed_labels(2, 4, 6, 8, seed=3)
    g = torch.Generator().manual_seed(4)
    feats, imnet = torch.randn(2, 3, 4, 6, generator=g), torch.randn(2, 3, 4, 6, generator=g)
    majorities = [_cell_majority(labels[b, i * 8:(i + 1) * 8, j * 8:(j + 1) * 8].flatten().tolist(), 255)
                  for b in range(2) for i in range(4) for j in range(6)]
    # the labels hold thing cells below 75 % and below 50 %, and pure ones
    assert any(c in THING_CLASSES and r < 0.5 for c, r in majorities)
    assert any(c in THING_CLASSES and 0.5 <= r < 0.75 for c, r in majorities)
    assert any(c in THING_CLASSES and r >= 0.75 for c, r in majorities)
    loss, n = feature_distance_loss(feats, imnet, labels, torch.tensor(THING_CLASSES), min_ratio, 19)
    ref, n_ref = _fd_slow(feats, imnet, labels, THING_CLASSES, min_ratio)
    assert n.item() == n_ref and loss.item() == pytest.approx(ref, rel=1e-5)


def test_feature_distance_loss_min_ratio_changes_the_pixels():
    labels = _mixed_labels(2, 4, 6, 8, seed=3)
    feats, imnet = torch.ones(2, 1, 4, 6), torch.zeros(2, 1, 4, 6)
    counts = [feature_distance_loss(feats, imnet, labels, torch.tensor(THING_CLASSES), r, 19)[1].item()
              for r in (0.0, 0.5, 0.75, 1.0)]
    assert counts == [_fd_slow(feats, imnet, labels, THING_CLASSES, r)[1] for r in (0.0, 0.5, 0.75, 1.0)]
    assert counts[0] > counts[1] > counts[2] > counts[3] > 0


def test_feature_distance_loss_passes_classes_num_classes_and_ignore_index():
    """Other class sets, 7 classes and ignore 250: the cells whose majority is 250 do not
    count, 250 is not an error although >= num_classes, classes outside the set do not count."""
    labels = _mixed_labels(1, 4, 6, 8, seed=5, ignore=250)
    labels[labels == 13] = 5
    labels[labels == 11] = 4
    g = torch.Generator().manual_seed(6)
    feats, imnet = torch.randn(1, 2, 4, 6, generator=g), torch.randn(1, 2, 4, 6, generator=g)
    for classes in ((5,), (4, 6), (0, 2)):
        loss, n = feature_distance_loss(feats, imnet, labels, torch.tensor(classes), 0.5, 7, ignore_index=250)
        ref, n_ref = _fd_slow(feats, imnet, labels, classes, 0.5, ignore=250)
        assert n.item() == n_ref > 0 and loss.item() == pytest.approx(ref, rel=1e-5)
    with pytest.raises(ValueError):  # 250 would be a bad label with the default ignore 255
        feature_distance_loss(feats, imnet, labels, torch.tensor((5,)), 0.5, 7)
    labels[0, 0, 0] = 7  # a label >= num_classes is an error, even where 19 classes would allow it
    with pytest.raises(ValueError, match=r"outside \[0, 7\)"):
        feature_distance_loss(feats, imnet, labels, torch.tensor((5,)), 0.5, 7, ignore_index=250)


def test_feature_distance_loss_scale_follows_the_width_and_gradient_flows_to_features_only():
    """A label map 2× the feature grid in width and 4× in height: cells are W // w = 2 px wide
    (and 2 px high: the reference's rule), the rows below the grid are dropped."""
    labels = _mixed_labels(1, 8, 6, 4, seed=8)[:, :, ::2]  # [1, 32, 12]
    g = torch.Generator().manual_seed(9)
    feats = torch.randn(1, 2, 8, 6, generator=g, requires_grad=True)
    imnet = torch.randn(1, 2, 8, 6, generator=g, requires_grad=True)
    loss, n = feature_distance_loss(feats, imnet, labels, torch.tensor(THING_CLASSES), 0.5, 19)
    ref, n_ref = _fd_slow(feats.detach(), imnet.detach(), labels, THING_CLASSES, 0.5)
    assert n.item() == n_ref > 0 and loss.item() == pytest.approx(ref, rel=1e-5)
    loss.backward()
    assert imnet.grad is None and feats.grad is not None and torch.count_nonzero(feats.grad) > 0
