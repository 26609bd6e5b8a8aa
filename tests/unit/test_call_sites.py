"""Call sites: where a value tested alone flows through the code that uses it (issue 29).

Each test here checks, from an independent statement of what the calling code must do,
that the caller hands its values to the tested function in the right places: a swapped,
dropped or defaulted argument at the call site makes one of them fail. The planted bugs
each test was checked against are listed in docs/testing.md ("Call-site tests").
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from flexseg.models.daformer import DAFormer
from flexseg.models.hrda import HRDA
from tests.conf_values import shade_values


def _plane_stats(t: torch.Tensor) -> torch.Tensor:
    """[B,C,2]: (mean, unbiased std) of each plane, in float64."""
    t = t.double()
    return torch.stack([t.mean(dim=(2, 3)), t.std(dim=(2, 3))], dim=-1)


def _predicted_mixture(seed: int, k: int, concentration: float, batch: int, pm: torch.Tensor, ps: torch.Tensor):
    """Channel (mean, std) [B,C,2] SHADE must give the hallucinated half on the first draw of seed."""
    w = torch.from_numpy(np.random.default_rng(seed).dirichlet([concentration] * k, size=batch))
    return torch.stack([w @ pm.double(), w @ ps.double()], dim=-1)


@pytest.mark.parametrize("arch", ["daformer", "hrda"])
def test_network_passes_shade_options_and_seed_to_the_stage1_hallucination(arch):
    """model.shade's num_styles and concentration and the network's seed reach SHADE; the
    encoder hallucinates its stage-1 map (originals first) and the later stages see [x; x_new]."""
    k, conc, seed = 6, 0.5, 9
    opts = shade_values(num_styles=k, concentration=conc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if arch == "daformer":
            net = DAFormer("mit_b0", num_classes=3, embed_dim=8, dilations=(1,), shade=opts, seed=seed)
        else:
            net = HRDA("mit_b0", num_classes=3, hr_crop_size=32, slide_window=None, embed_dim=8, attention_embed_dim=8,
                       dilations=(1,), shade=opts, seed=seed)
    sh = net.backbone.style_hallucination
    assert (sh.num_styles, sh.concentration, sh.channels) == (k, conc, net.backbone.out_channels[0])
    g = torch.Generator().manual_seed(0)
    pm, ps = torch.randn(k, sh.channels, generator=g) + 3.0, torch.rand(k, sh.channels, generator=g) * 0.5 + 0.2
    sh.set_styles(pm, ps)
    net.train()
    x = torch.randn(2, 3, 64, 64, generator=g)
    torch.manual_seed(1)
    feats = net.backbone(x)
    torch.manual_seed(1)  # the same drop-path draws: SHADE draws from its own NumPy generator
    stage1 = net.backbone.stage1(x)
    assert [f.shape[0] for f in feats] == [4, 4, 4, 4]
    assert torch.allclose(feats[0][:2], stage1, atol=1e-6)
    assert torch.allclose(_plane_stats(feats[0][2:]), _predicted_mixture(seed, k, conc, 2, pm, ps), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(feats[-1][:2], feats[-1][2:], atol=1e-3)  # the later stages see the new styles
    net.eval()
    assert [f.shape[0] for f in net.backbone(x)] == [2, 2, 2, 2]  # evaluation: no hallucination


def _fps(points: list[list[float]], k: int, start: int) -> list[int]:
    """Farthest-point sampling by loops (ties → lowest index)."""
    chosen = [start]
    while len(chosen) < k:
        dist = [min(sum((a - b) ** 2 for a, b in zip(p, points[c])) for c in chosen) for p in points]
        chosen.append(max(range(len(points)), key=lambda i: (dist[i], -i)))
    return chosen


@pytest.mark.parametrize("arch", ["daformer", "hrda"])
def test_refresh_styles_sets_each_base_style_to_one_images_stage1_mean_and_std(arch):
    """SegModule.refresh_styles: base style k = (channel mean, channel std) of the stage-1
    map (eval mode, ImageNet-normalized image; HRDA: its 0.5-scale context view, the
    reference's feature_scale) of the k-th image of a farthest-point sample over the
    images' (mean, std) vectors, starting at the seeded random image."""
    from flexseg.flex.criterion import FlexCriterion
    from flexseg.module import SegModule
    from tests.conf_values import criterion_kwargs, module_kwargs

    k, seed = 3, 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opts = shade_values(num_styles=k, batch_size=2)
        if arch == "daformer":
            net = DAFormer("mit_b0", num_classes=19, embed_dim=8, dilations=(1,), seed=seed, shade=opts)
        else:
            net = HRDA("mit_b0", num_classes=19, hr_crop_size=32, slide_window=None, embed_dim=8, attention_embed_dim=8,
                       dilations=(1,), seed=seed, shade=opts)
    module = SegModule(net, FlexCriterion(19, feature_dim=8, **criterion_kwargs(ube=None, gap=None)), **module_kwargs()).train()
    g = torch.Generator().manual_seed(2)
    # images of different brightness and contrast: distinct styles
    images = [(torch.rand(3, 64, 64, generator=g) * (40 + 25 * i) + 10 * i).to(torch.uint8) for i in range(7)]
    module.refresh_styles([{"image": im} for im in images])
    assert net.training  # back in training mode
    net.eval()
    stats = []
    with torch.no_grad():
        for im in images:
            x = (im[None].float() / 255 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
                [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            if arch == "hrda":
                x = torch.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
            s1 = net.backbone.stage1(x).double()[0]
            stats.append((s1.mean(dim=(1, 2)), s1.std(dim=(1, 2))))
    start = int(torch.randint(7, (1,), generator=torch.Generator().manual_seed(seed * 1_000_003)))
    chosen = _fps([torch.cat(s).tolist() for s in stats], k, start)
    sh = net.backbone.style_hallucination
    for row, i in enumerate(chosen):
        assert torch.allclose(sh.proto_mean[row].double(), stats[i][0], rtol=1e-4, atol=1e-5), (row, i)
        assert torch.allclose(sh.proto_std[row].double(), stats[i][1], rtol=1e-4, atol=1e-5), (row, i)
    assert bool(sh.initialized)


# ------------------------------------------------------------------ rare-class sampling in the datamodule
# the GTA + generated trees with class statistics: fixture ``trees`` of tests/unit/conftest.py


def _slow_rcs(per_file, T, min_pixels):
    """(classes rarest first, p, eligible files) of DAFormer's rare-class sampling, by loops."""
    totals: dict[int, int] = {}
    for px in per_file:
        for c, n in px.items():
            totals[c] = totals.get(c, 0) + n
    total = sum(totals.values())
    z = {c: math.exp((1 - n / total) / T - 1 / T) for c, n in totals.items()}
    classes = sorted(totals, key=lambda c: (totals[c], c))
    p = [z[c] / sum(z.values()) for c in classes]
    files = {c: [i for i, px in enumerate(per_file) if px.get(c, 0) > min_pixels] for c in classes}
    return classes, p, files


def test_datamodule_passes_rcs_options_seed_and_offset_and_keys_draws_by_position_and_slot(trees):
    """data.rcs's temperature, min_pixels and min_crop_ratio and the run seed reach the
    sampler; every uniform draw in the RCS set (here the second set: offset 4) becomes
    (offset + file, aug seed, {class, floor(min_pixels·ratio)}) with (file, class) the
    documented draw of (seed, stream position, slot in the global batch)."""
    from flexseg.data.datamodule import SeededBatches, SegDataModule
    from flexseg.data.datasets import build
    from flexseg.data.samplers import UniformBatchSampler

    gta, gen = build("gta", trees / "gta"), build("generated", trees / "gen")
    T, min_pixels, ratio, seed = 0.3, 5, 1.5, 3
    dm = SegDataModule({"generated": gen, "gta": gta}, {"t": gen}, batch_size=4, seed=seed, max_steps=100,
                       rcs={"enabled": True, "set": "gta", "temperature": T, "min_pixels": min_pixels,
                            "min_crop_ratio": ratio})
    per_file = []
    for i in range(len(gta)):
        values, counts = np.unique(np.asarray(gta.load_label(i)), return_counts=True)
        per_file.append({int(v): int(n) for v, n in zip(values, counts) if v != 255})
    classes, p, files = _slow_rcs(per_file, T, min_pixels)
    assert dm.rcs.sampler.classes == classes and dm.rcs.sampler.probs.tolist() == pytest.approx(p, rel=1e-12)
    probs = torch.tensor(p, dtype=torch.float64)
    plain = SeededBatches(UniformBatchSampler(10, 4, seed=seed), seed)
    stream = SeededBatches(dm.sampler, dm.seed, dm.rcs)
    pairs = []
    for _ in range(10):  # stream positions 0 … 9 (5 epochs of 2 batches), each batch consumed before the next
        pairs.append((next(iter(stream)), next(iter(plain))))
        dm.sampler.update([], [])
        plain.sampler.update([], [])
    replaced = 0
    for position, (batch, ref) in enumerate(pairs):
        for slot, (item, (i0, aug)) in enumerate(zip(batch, ref)):
            if i0 < 4:  # a generated image: as drawn
                assert item == (i0, aug)
                continue
            g = torch.Generator().manual_seed(((seed * 1_000_003 + position) * 8191 + slot + 0x5EED) % 2**63)
            c = classes[int(torch.multinomial(probs, 1, generator=g))]
            f = files[c][int(torch.randint(len(files[c]), (1,), generator=g))]
            assert item == (4 + f, aug, {"sampled_class": c, "min_class_pixels": math.floor(min_pixels * ratio)})
            replaced += 1
    assert len(pairs) == 10 and replaced > 10


class _FixedStream:
    """A StreamBatchSampler yielding fixed global batches, with a given hard mask."""

    def __init__(self, batches, masks, rank, world_size):
        self.batches, self.masks, self.rank, self.world_size = batches, masks, rank, world_size
        self.batch_size, self.yield_pos = len(batches[0]) // world_size, 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        b = self.batch_size
        for batch in self.batches:
            yield batch[self.rank * b:(self.rank + 1) * b]

    def hard_mask(self, position):
        return self.masks[position]

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_seeded_batches_reads_each_ranks_slots_of_the_global_hard_mask():
    """Rank r's slot j is global slot r·B + j: its hard flag and its RCS draw are that slot's."""
    from flexseg.data.datamodule import RCSRange, SeededBatches
    from flexseg.data.rcs import RareClassSampler

    sampler = RareClassSampler([{0: 10, 1: 3}, {1: 9, 2: 8}, {0: 4, 2: 7}], temperature=1.0, min_pixels=2)
    batches, masks = [[0, 1, 2, 0], [2, 2, 1, 0]], [[True, False, False, True], [False, True, True, False]]
    for rank in (0, 1):
        stream = SeededBatches(_FixedStream(batches, masks, rank, 2), seed=5, rcs=RCSRange(sampler, 0, 3))
        for position, batch in enumerate(stream):
            for j, item in enumerate(batch):
                slot = 2 * rank + j
                index, aug = batches[position][slot], (5 * 1_000_003 + position) * 4099 + slot
                if masks[position][slot]:
                    assert item == (index, aug)
                else:
                    f, c = sampler.draw(position, slot)
                    assert item == (f, aug, {"sampled_class": c, "min_class_pixels": 1})


# ------------------------------------------------------------------ network constructors
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_networks_pass_dropout_classwise_attention_and_hr_overlap_to_their_parts(dropout):
    """dropout reaches every DAFormer head (HRDA: both heads); attention_classwise the
    attention's channels; hr_slide_overlap the number of HR crops per window (stride
    crop/2: 3×3 crops of 32 px over a 64-px window, else 2×2)."""
    daformer = DAFormer("mit_b0", num_classes=5, embed_dim=8, dilations=(1,), dropout=dropout)
    head = daformer.decode_head
    assert (isinstance(head.dropout, torch.nn.Identity) if dropout == 0 else head.dropout.p == dropout)
    for classwise, overlap in ((True, True), (False, False)):
        net = HRDA("mit_b0", num_classes=5, hr_crop_size=32, slide_window=None, embed_dim=8, attention_embed_dim=8,
                   dilations=(1,), dropout=dropout, attention_classwise=classwise, hr_slide_overlap=overlap).eval()
        for head in (net.decode_head.head, net.decode_head.scale_attention):
            assert (isinstance(head.dropout, torch.nn.Identity) if dropout == 0 else head.dropout.p == dropout)
        x = torch.randn(1, 3, 64, 64)
        _, att = net.lr_pass(x)
        assert att.shape[1] == (5 if classwise else 1)
        seen: list[int] = []
        hook = net.backbone.register_forward_hook(lambda m, inp, out, seen=seen: seen.append(inp[0].shape[0]))
        with torch.no_grad():
            net.hr_slide_logits(x)
        hook.remove()
        assert seen == [9 if overlap else 4]


# ------------------------------------------------------------------ SegModule.compute_losses
def _cell_labels() -> torch.Tensor:
    """Two 64×64 label maps of 32-px cells (the last stage's grid) with known majorities."""
    lab = torch.zeros(2, 64, 64, dtype=torch.long)

    def fill(b, i, j, parts):  # parts: [(class, rows)], top to bottom
        y = 0
        for c, n in parts:
            lab[b, i * 32 + y:i * 32 + y + n, j * 32:(j + 1) * 32] = c
            y += n
    fill(0, 0, 0, [(22, 20), (0, 12)])          # class 22 (a thing here, >= 19 classes) at 62.5 %
    fill(0, 0, 1, [(13, 32)])                   # a pure car cell
    fill(0, 1, 0, [(13, 14), (1, 10), (2, 8)])  # car the majority at 43.75 %
    fill(0, 1, 1, [(5, 26), (13, 6)])           # a stuff majority
    fill(1, 0, 0, [(13, 22), (255, 10)])        # car at 68.75 %
    fill(1, 0, 1, [(255, 18), (22, 14)])        # ignore the majority
    fill(1, 1, 0, [(22, 17), (13, 15)])         # class 22 at 53.1 %
    fill(1, 1, 1, [(13, 16), (3, 16)])          # a tie: the lower class id (3) wins
    return lab


def _thing_cells(labels, classes, min_ratio, ignore=255):
    n = 0
    for b in range(labels.shape[0]):
        for i in range(2):
            for j in range(2):
                vals = labels[b, i * 32:(i + 1) * 32, j * 32:(j + 1) * 32].flatten().tolist()
                counts = {v: vals.count(v) for v in set(vals)}
                best = min(counts, key=lambda v: (-counts[v], v == ignore, v))
                n += best != ignore and best in classes and counts[best] / len(vals) >= min_ratio
    return n


@pytest.mark.parametrize("min_ratio", [0.5, 0.6, 0.75])
def test_module_passes_fd_min_ratio_classes_and_num_classes_and_averages_shade_halves(min_ratio):
    """SegModule.compute_losses: the feature distance counts the thing cells of the
    configured min_ratio and classes with the model's 25 classes (fd_num_pixels, by loops;
    with SHADE the labels hold for both halves), and HAS's per-image loss is the mean of an
    image's two copies (the valid-pixel cross-entropy of each, by hand)."""
    import copy

    import torch.nn.functional as F

    from flexseg.flex.criterion import FlexCriterion
    from flexseg.module import SegModule
    from tests.conf_values import criterion_kwargs, fd_values, module_kwargs

    classes = (22, 13)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = DAFormer("mit_b0", num_classes=25, embed_dim=8, dilations=(1,), dropout=0.0, seed=1,
                       shade=shade_values(), feature_distance=fd_values(min_ratio=min_ratio, classes=list(classes)))
    crit = FlexCriterion(25, feature_dim=8, **criterion_kwargs(ube=None, gap=None))
    module = SegModule(net, crit, **(module_kwargs() | {"num_classes": 25})).train()
    sh = net.backbone.style_hallucination
    sh.set_styles(torch.randn(32, 32), torch.rand(32, 32) + 0.5)
    labels = _cell_labels()
    batch = {"image": torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)),
             "label": labels, "index": torch.arange(2)}
    rng = copy.deepcopy(sh.rng.bit_generator.state)
    torch.manual_seed(3)
    losses = module.compute_losses(batch)
    assert losses["fd_num_pixels"].item() == 2 * _thing_cells(labels, classes, min_ratio)  # both halves
    sh.rng.bit_generator.state = rng
    torch.manual_seed(3)
    logits = net(module.normalize(batch["image"]))["logits"]
    up = F.interpolate(logits, size=(64, 64), mode="bilinear", align_corners=False)
    ce = F.cross_entropy(up, torch.cat([labels, labels]), ignore_index=255, reduction="none")
    valid = (torch.cat([labels, labels]) != 255).float()
    per = (ce * valid).sum(dim=(1, 2)) / valid.sum(dim=(1, 2))
    assert torch.allclose(losses["per_image"], (per[:2] + per[2:]) / 2, rtol=1e-5)
    assert not torch.allclose(per[:2], per[2:], rtol=1e-3)  # the two copies differ: the mean is seen


def test_train_dataloader_seeds_the_stream_with_the_run_seed_and_leaves_the_global_rng(trees):
    """The loader's batches carry the augmentation seeds of the run seed, and creating and
    iterating the loader draws nothing from the global torch generator."""
    from flexseg.data.datamodule import SegDataModule
    from flexseg.data.datasets import build

    gen = build("generated", trees / "gen")
    dm = SegDataModule({"generated": gen}, {"t": gen}, batch_size=2, seed=5, max_steps=10)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    loader = dm.train_dataloader()
    first = next(iter(loader.batch_sampler))
    next(iter(loader))
    assert torch.equal(torch.get_rng_state(), before)
    assert [aug for _, aug in first] == [(5 * 1_000_003 + 0) * 4099 + slot for slot in range(2)]


def test_head_dilations_reach_every_aspp_branch():
    """DAFormer(dilations=…) → one fusion branch per dilation, each 3×3 depthwise conv with that
    dilation and padding (a 1×1 branch for 1): a pixel of a branch sees the input d pixels away."""
    from flexseg.models.layers.conv import ConvBNReLU, SeparableConvBNReLU

    net = DAFormer("mit_b0", num_classes=3, embed_dim=4, dilations=(1, 3, 5))
    branches = net.decode_head.fuse_layer.aspp_modules
    assert len(branches) == 3 and isinstance(branches[0], ConvBNReLU) and branches[0].conv.kernel_size == (1, 1)
    for branch, d in zip(branches[1:], (3, 5)):
        assert isinstance(branch, SeparableConvBNReLU)
        conv = branch.depthwise_conv.conv
        x = torch.zeros(1, conv.in_channels, 13, 13)
        x[0, :, 6, 6] = 1.0  # an impulse
        with torch.no_grad():
            seen = conv(x)[0].abs().sum(0) > 0
        assert seen.shape == (13, 13)
        assert sorted({(i - 6, j - 6) for i, j in seen.nonzero().tolist()}) == sorted(
            {(a, b) for a in (-d, 0, d) for b in (-d, 0, d)})
