"""GPU paths of the foundation-model segmenter (skipped without CUDA; run by
``bash experiments/gpu_check.sh``): bf16 autocast stays close to float32 for every tuning
mode, activation checkpointing gives the float32 gradients on CUDA, and a ViT-L Rein step
at 512², batch 4, fits the 24 GB the Rein family trains with (docs/vfm.md)."""
import pytest
import torch

from flexseg.models.vfm import VFMSegmenter

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CUDA = torch.device("cuda")
SMALL = {"depth": 4, "embed_dim": 64, "num_heads": 2}


def _net(tuning: str, **kw) -> VFMSegmenter:
    torch.manual_seed(0)
    return VFMSegmenter("vit_small_patch14_dinov2", num_classes=19, tuning=tuning, img_size=128, embed_dim=32,
                        dilations=(1, 2), encoder_kwargs=SMALL, **kw).to(CUDA).train()


@pytest.mark.parametrize("tuning", ["full", "frozen", "lora", "rein"])
def test_bf16_autocast_close_to_fp32(tuning):
    net = _net(tuning)
    x = torch.randn(2, 3, 128, 128, device=CUDA, generator=torch.Generator(CUDA).manual_seed(1))
    torch.backends.cuda.matmul.allow_tf32 = False
    ref = net(x)["logits"].float()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        low = net(x)["logits"].float()
    assert torch.isfinite(low).all()
    assert (low - ref).abs().max() <= 0.05 * ref.abs().max() + 1e-3


def test_grad_checkpointing_same_gradients_on_cuda():
    grads = []
    for flag in (False, True):
        net = _net("rein", grad_checkpointing=flag)
        x = torch.randn(2, 3, 128, 128, device=CUDA, generator=torch.Generator(CUDA).manual_seed(2))
        net(x)["logits"].square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert all(torch.allclose(grads[0][k], grads[1][k], atol=1e-5, rtol=1e-4) for k in grads[0])


def test_vit_large_rein_step_fits_24_gb():
    torch.manual_seed(0)
    net = VFMSegmenter("vit_large_patch14_dinov2", tuning="rein").to(CUDA).train()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-4)
    x = torch.randn(4, 3, 512, 512, device=CUDA)
    y = torch.randint(0, 19, (4, 128, 128), device=CUDA)
    torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(net(x)["logits"].float(), y)
        loss.backward()
        opt.step()
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"ViT-L rein 512² batch 4 bf16: peak {peak:.1f} GiB")
    assert peak < 24
