"""Every FLEX-Seg value set in the config reaches the math.

Each test composes the real config with non-default values (``flex.*`` overrides),
builds the component the way a run does (``flexseg.build``) and compares its output with
a slow, obvious reference written here from the paper's formulas (docs/has.md for HAS).
A value hard-coded to its default anywhere between ``conf/`` and the math makes these
fail; the default values alone could not tell.
"""
import math

import pytest
import torch

from tests.integration.test_configs import compose_cfg

C = 19


def _window_has_two_labels(lab: torch.Tensor, y: int, x: int, k: int, ignore: int = 255) -> bool:
    r = k // 2
    H, W = lab.shape
    win = lab[max(0, y - r): min(H, y + r + 1), max(0, x - r): min(W, x + r + 1)]
    return len({int(v) for v in win.flatten() if int(v) != ignore}) >= 2


def _granularity_ref(lab: torch.Tensor, kernels) -> torch.Tensor:
    """Smallest g whose k_g window holds two labels (−1: interior or ignored), by loops."""
    H, W = lab.shape
    out = torch.full((H, W), -1, dtype=torch.long)
    for y in range(H):
        for x in range(W):
            if int(lab[y, x]) == 255:
                continue
            for g, k in enumerate(kernels):
                if _window_has_two_labels(lab, y, x, k):
                    out[y, x] = g
                    break
    return out


def _network(cfg):
    from hydra.utils import instantiate

    return instantiate(cfg.model)


def _labels(seed: int, B: int, H: int, W: int, classes) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    blocks = torch.tensor(classes)[torch.randint(len(classes), (B, H // 4, W // 4), generator=g)]
    lab = blocks.repeat_interleave(4, 1).repeat_interleave(4, 2)
    lab[:, 0, 0] = 255  # one ignored pixel per image
    return lab


# ----------------------------------------------------------------------------- UBE
def test_ube_alpha_eps_and_kernels_from_config():
    from flexseg.build import build_criterion

    kernels = [3, 5, 9]
    alpha, eps = 1.7, 0.25
    cfg = compose_cfg([f"flex.kernel_sizes=[{','.join(map(str, kernels))}]", f"flex.ube.alpha={alpha}",
                       f"flex.ube.eps={eps}", "flex.gap.enabled=false"])
    crit = build_criterion(cfg, feature_dim=_network(cfg).feature_dim)
    g = torch.Generator().manual_seed(0)
    B, H, W = 2, 12, 16
    logits = torch.randn(B, C, H, W, generator=g) * 2
    labels = _labels(1, B, H, W, [0, 2, 5, 8])
    got = crit(logits, None, labels)

    total, n_valid, per_image = 0.0, 0, []
    for b in range(B):
        lab = labels[b]
        logp = torch.log_softmax(logits[b].double(), 0)
        ent = -(logp.exp() * logp).sum(0)
        valid = lab != 255
        mu = ent[valid].mean()
        sigma = ((ent[valid] - mu) ** 2).mean().sqrt()  # population std
        img_sum = 0.0
        for y in range(H):
            for x in range(W):
                if not valid[y, x]:
                    continue
                ce = -float(logp[int(lab[y, x]), y, x])
                on_boundary = _window_has_two_labels(lab, y, x, kernels[-1])  # thickest band
                w = 1.0 + alpha / (1.0 + math.exp(-float((ent[y, x] - mu) / (sigma + eps)))) if on_boundary else 1.0
                img_sum += w * ce
        total += img_sum
        n_valid += int(valid.sum())
        per_image.append(img_sum / int(valid.sum()))
    assert float(got["loss"]) == pytest.approx(total / n_valid, rel=1e-5)
    assert got["per_image"].tolist() == pytest.approx(per_image, rel=1e-5)


# ----------------------------------------------------------------------------- GAP
def test_gap_tau_weight_momentum_max_weight_and_kernels_from_config():
    from flexseg.build import build_criterion

    kernels = [3, 7]
    tau, lam, momentum, max_weight, proj_dim = 0.2, 0.7, 0.6, 2.5, 8
    cfg = compose_cfg([
        f"flex.kernel_sizes=[{','.join(map(str, kernels))}]", "flex.ube.enabled=false",
        f"flex.gap.tau={tau}", f"flex.gap.weight={lam}", f"flex.gap.momentum={momentum}",
        f"flex.gap.max_weight={max_weight}", f"flex.gap.proj_dim={proj_dim}",
        "flex.gap.max_pixels=100000",  # ≥ every boundary pixel: all are taken, no random choice
        "model.embed_dim=6",
    ])
    crit = build_criterion(cfg, feature_dim=_network(cfg).feature_dim).train()  # model.embed_dim reaches GAP's head
    G = len(kernels)
    B, H, W, D = 2, 12, 12, 6
    g = torch.Generator().manual_seed(3)

    def step(labels: torch.Tensor):
        feats = torch.randn(B, D, H, W, generator=g)
        logits = torch.randn(B, C, H, W, generator=g)
        protos, counts = crit.bank.prototypes.clone(), crit.bank.counts.clone()
        with torch.no_grad():
            emb = crit.projection(feats)  # [B,P,H,W] unit vectors (BN in training mode: batch statistics)
        out = crit(logits, feats, labels)
        # reference weights from the pre-update counts
        n_max = counts.max().item()
        weights = torch.ones(C, G)
        if n_max > 0:
            for c in range(C):
                for gg in range(G):
                    n = counts[c, gg].item()
                    weights[c, gg] = min(n_max / n, max_weight) if n > 0 else max_weight
        rows, pairs = [], []
        for b in range(B):
            gran = _granularity_ref(labels[b], kernels)
            for y in range(H):
                for x in range(W):
                    if gran[y, x] >= 0:
                        rows.append(emb[b, :, y, x])
                        pairs.append((int(labels[b, y, x]), int(gran[y, x])))
        f = torch.stack(rows).double()
        flat = protos.reshape(C * G, -1).double()
        loss = 0.0
        for fi, (c, gg) in zip(f, pairs):
            logits_j = flat @ fi / tau
            loss -= weights[c, gg].item() * float(torch.log_softmax(logits_j, 0)[c * G + gg])
        loss /= len(pairs)
        assert float(out["loss_gap"].detach()) == pytest.approx(loss, rel=1e-4)
        assert float(out["loss"].detach()) == pytest.approx(float(out["loss_seg"].detach()) + lam * loss, rel=1e-4)
        # reference bank update: first update copies the pair mean, later ones mix with m
        expected = protos.clone().double()
        for c, gg in set(pairs):
            mean = torch.stack([fi for fi, p in zip(f, pairs) if p == (c, gg)]).mean(0)
            new = mean if counts[c, gg] == 0 else momentum * protos[c, gg].double() + (1 - momentum) * mean
            expected[c, gg] = new / new.norm()
        assert torch.allclose(crit.bank.prototypes.double(), expected, atol=1e-5)

    step(_labels(4, B, H, W, [0, 1]))  # pairs of classes 0 and 1 seen once
    step(_labels(5, B, H, W, [0, 1, 2]))  # class 2 unseen → its weight is max_weight; 0/1 mix with m


# ----------------------------------------------------------------------------- HAS
@pytest.mark.parametrize("draw", ["iteration", "index"])
def test_has_schedule_knobs_from_config(draw):
    from flexseg.build import build_datamodule

    k, midpoint, temperature, ema, total = 0.2, 30.0, 0.5, 0.6, 40
    cfg = compose_cfg([
        "data.num_source=6", "data.num_generated=6", "data.num_test=2", "data.batch_size=2",
        f"flex.has.k={k}", f"flex.has.midpoint={midpoint}", f"flex.has.temperature={temperature}",
        f"flex.has.ema={ema}", f"flex.has.draw={draw}", f"trainer.max_steps={total}",
    ])
    dm = build_datamodule(cfg)
    dm.setup("fit")
    s = dm.sampler
    n = s.num_samples
    assert s.draw == draw
    losses = {i: [] for i in range(n)}
    for step in range(10):  # 10 feedback steps of 2 images: progress 25 %
        idx = [(2 * step) % n, (2 * step + 1) % n]
        vals = [0.1 * (step + 1), 0.3 * (step + 2)]
        s.update(idx, vals)
        for i, v in zip(idx, vals):
            losses[i].append(v)
    t = 100.0 * 10 / total
    thr = 1.0 / (1.0 + math.exp(k * (t - midpoint)))
    assert s.threshold() == pytest.approx(thr)
    h = []
    for i in range(n):
        hi = None
        for v in losses[i]:
            hi = v if hi is None else ema * hi + (1 - ema) * v
        h.append(hi)
    seen = [v for v in h if v is not None]
    h = [v if v is not None else sum(seen) / len(seen) for v in h]
    z = sum(math.exp(v / temperature) for v in h)
    ref = [thr / n + (1 - thr) * math.exp(v / temperature) / z for v in h]
    assert s.probabilities().tolist() == pytest.approx(ref, rel=1e-6)  # losses pass through float32


def test_has_linear_schedule_from_config():
    from flexseg.build import build_datamodule

    cfg = compose_cfg(["data.num_source=6", "data.num_generated=6", "data.num_test=2",
                       "flex.has.schedule=linear", "trainer.max_steps=8"])
    dm = build_datamodule(cfg)
    dm.setup("fit")
    s = dm.sampler
    for _ in range(2):
        s.update([0], [1.0])
    assert s.threshold() == pytest.approx(1 - 25 / 100)
