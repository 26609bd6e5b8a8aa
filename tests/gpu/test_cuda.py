"""GPU paths (skipped without CUDA; run them with ``bash experiments/gpu_check.sh`` on a
GPU machine): FLEX-Seg's loss on CUDA equals the CPU one, bf16 autocast stays close to
float32, and short synthdrive runs with ``trainer=gpu`` settings (bf16-mixed and
16-mixed, channels-last, cudnn.benchmark) train, checkpoint, resume and evaluate."""
import json

import pytest
import torch

from flexseg.flex.boundaries import boundary_bands
from flexseg.flex.criterion import FlexCriterion
from tests.conf_values import criterion_kwargs

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CUDA = torch.device("cuda")


def _labels(batch: int = 2, h: int = 64, w: int = 128, seed: int = 0) -> torch.Tensor:
    """Blocky label maps with ignored pixels (19 classes + 255)."""
    g = torch.Generator().manual_seed(seed)
    lab = torch.randint(0, 19, (batch, h // 8, w // 8), generator=g)
    lab = lab.repeat_interleave(8, 1).repeat_interleave(8, 2)
    lab[:, :4, :] = 255
    return lab


def _criterion(seed: int = 0) -> FlexCriterion:
    torch.manual_seed(seed)  # projection-head initialization
    return FlexCriterion(19, feature_dim=32, **criterion_kwargs(gap={"proj_dim": 64, "max_pixels": 200}, seed=seed))


def test_boundary_bands_cuda_equal_cpu():
    labels = _labels(4, 128, 256)
    assert torch.equal(boundary_bands(labels.to(CUDA)).cpu(), boundary_bands(labels))


@pytest.fixture
def no_tf32():
    """Full float32 on the GPU (PyTorch runs cuDNN convolutions in TF32 by default)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_flex_criterion_cuda_matches_cpu(no_tf32):
    """Two steps (the second uses the bank updated by the first): losses, per-image
    losses, gradients and the prototype bank agree; the same pixels are sampled."""
    labels = _labels()
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 19, 64, 128, generator=g)
    feats = torch.randn(2, 32, 16, 32, generator=g)
    results = []
    for device in (torch.device("cpu"), CUDA):
        crit = _criterion().to(device).train()
        steps = []
        for _ in range(2):
            lg = logits.to(device, copy=True).requires_grad_()
            ft = feats.to(device, copy=True).requires_grad_()
            out = crit(lg, ft, labels.to(device))
            out["loss"].backward()
            steps.append({k: v.detach().cpu() for k, v in out.items()} | {"grad_logits": lg.grad.cpu(), "grad_feats": ft.grad.cpu()})
        results.append((steps, crit.bank.prototypes.cpu(), crit.bank.counts.cpu()))
    (s_cpu, p_cpu, n_cpu), (s_gpu, p_gpu, n_gpu) = results
    assert torch.equal(n_cpu, n_gpu)
    torch.testing.assert_close(p_gpu, p_cpu, rtol=1e-4, atol=1e-5)
    for a, b in zip(s_cpu, s_gpu):
        assert a["gap_num_pixels"].item() == b["gap_num_pixels"].item() == 200
        for key in ("loss", "loss_seg", "loss_gap", "per_image", "ube_mean_boundary_weight", "grad_logits", "grad_feats"):
            torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-6, msg=lambda m, k=key: f"{k}: {m}")


def test_flex_criterion_never_waits_for_the_gpu():
    """Forward and backward of the whole FLEX loss (UBE, GAP sampling, InfoNCE, bank
    update) launch work without one host↔device synchronization (CUDA's sync debug
    mode turns any into an error), so the CPU keeps queueing ahead of the GPU."""
    labels = _labels().to(CUDA)
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 19, 64, 128, generator=g).to(CUDA)
    feats = torch.randn(2, 32, 16, 32, generator=g).to(CUDA)
    crit = _criterion().to(CUDA).train()
    crit(logits.clone().requires_grad_(), feats.clone().requires_grad_(), labels)["loss"].backward()  # warm-up
    torch.cuda.synchronize()
    lg, ft = logits.clone().requires_grad_(), feats.clone().requires_grad_()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = crit(lg, ft, labels)
        out["loss"].backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert out["gap_num_pixels"].item() == 200 and torch.isfinite(out["loss"])


def test_flex_criterion_bf16_autocast_close_to_float32():
    labels = _labels().to(CUDA)
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 19, 64, 128, generator=g).to(CUDA)
    feats = torch.randn(2, 32, 16, 32, generator=g).to(CUDA)
    ref = _criterion().to(CUDA).train()(logits, feats, labels)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = _criterion().to(CUDA).train()(logits.bfloat16(), feats.bfloat16(), labels)
    assert out["loss_gap"].dtype == torch.float32  # GAP's InfoNCE leaves autocast
    for key in ("loss", "loss_seg", "loss_gap"):
        assert torch.isfinite(out[key])
        torch.testing.assert_close(out[key].float(), ref[key], rtol=2e-2, atol=1e-3, msg=lambda m, k=key: f"{k}: {m}")


def _gpu_cfg(tmp_path, precision: str, extra=()):
    from tests.integration.test_train import _cfg

    return _cfg(tmp_path, [
        "trainer.accelerator=gpu", f"trainer.precision={precision}", "trainer.benchmark=true",
        "channels_last=true", "trainer.max_steps=12", *extra,
    ])


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_train_on_gpu_mixed_precision(tmp_path, precision):
    from flexseg.train import train

    summary = train(_gpu_cfg(tmp_path, precision))
    assert set(summary["miou"]) == {"clear", "fog", "night", "rain", "snow"}
    assert all(0.0 <= v <= 1.0 for v in summary["miou"].values())
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["mean"] == pytest.approx(summary["mean"])
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    bank = ckpt["state_dict"]["criterion.bank.counts"]
    assert int(bank.sum()) > 0  # GAP ran and updated the bank
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if torch.is_tensor(v) and v.is_floating_point())


def test_resume_on_gpu_continues_the_run(tmp_path):
    """Stop after 6 steps, resume from last.ckpt on the GPU, and reach step 12 with the
    bank and HAS sampler carried over; the checkpoint then evaluates on the CPU."""
    from omegaconf import open_dict

    from flexseg.eval import evaluate
    from flexseg.train import train
    from tests.integration.test_configs import compose_cfg
    from tests.integration.test_train import TINY

    first = _gpu_cfg(tmp_path / "run", "bf16-mixed", ["trainer.max_steps=6", "test=false"])
    train(first)
    c6 = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert c6["global_step"] == 6
    second = _gpu_cfg(tmp_path / "run", "bf16-mixed", ["resume=true"])
    train(second)
    c12 = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert c12["global_step"] == 12
    counts6, counts12 = c6["state_dict"]["criterion.bank.counts"], c12["state_dict"]["criterion.bank.counts"]
    assert (counts12 >= counts6).all() and counts12.sum() > counts6.sum()

    ecfg = compose_cfg([*TINY, f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}"], name="eval")
    with open_dict(ecfg):
        ecfg.paths.output_dir = str(tmp_path / "eval")
    assert 0.0 <= evaluate(ecfg)["mean"] <= 1.0  # the GPU checkpoint evaluates with the eval config's trainer
