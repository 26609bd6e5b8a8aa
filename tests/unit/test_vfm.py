"""The foundation-model segmenter (flexseg/models/{vfm,vit,rein,tuning}.py, docs/vfm.md):
pyramid geometry, the trainable set of every tuning mode (ViT-L counts on the meta
device), frozen weights that do not move, Rein's refinement against a loop reference,
LoRA through peft, activation checkpointing, layer-wise lr decay, the network contract."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from flexseg.models.base import SegNetwork, SupportsPretrainedBackbone, check_output
from flexseg.models.rein import ReinRefiner
from flexseg.models.tuning import layer_id, lora_target_names
from flexseg.models.vfm import VFMSegmenter
from flexseg.models.vit import FeaturePyramid, ViTBackbone, default_out_indices
from tests.integration.test_configs import CONF

TINY = {"depth": 4, "embed_dim": 32, "num_heads": 2}


def tiny(tuning: str = "rein", **kw) -> VFMSegmenter:
    torch.manual_seed(0)
    args = dict(num_classes=5, tuning=tuning, img_size=32, embed_dim=8, dilations=(1, 2), encoder_kwargs=TINY)
    args.update(kw)
    return VFMSegmenter("vit_small_patch14_dinov2", **args)


def vfm_cfg(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=["model=vfm", "model.pretrained=null", *overrides])


# ----------------------------------------------------------------------- geometry
@pytest.mark.parametrize("encoder,depth,indices", [
    ("vit_small_patch14_dinov2", 12, (3, 5, 7, 11)), ("vit_base_patch14_dinov2", 12, (3, 5, 7, 11)),
    ("vit_large_patch14_dinov2", 24, (7, 11, 15, 23)), ("vit_giant_patch14_dinov2", 40, (12, 19, 26, 39)),
])
def test_encoder_alone_switches_size_and_pyramid_blocks(encoder, depth, indices):
    """model.encoder= alone picks the blocks by depth (built on the meta device, no weights)."""
    cfg = vfm_cfg([f"model.encoder={encoder}", "model.tuning=frozen"])
    with torch.device("meta"):
        net = instantiate(cfg.model)
    assert net.backbone.depth == depth and net.backbone.out_indices == indices == default_out_indices(depth)
    assert net.backbone.patch_size == 16 and tuple(net.backbone.vit.patch_embed.grid_size) == (32, 32)


def test_pyramid_strides_and_bilinear_factors():
    maps = [torch.randn(2, 6, 32, 32) for _ in range(4)]
    out = FeaturePyramid(6, patch_size=16)(maps, (512, 512))
    assert [tuple(m.shape[-2:]) for m in out] == [(128, 128), (64, 64), (32, 32), (16, 16)]
    for m, o, f in zip(maps, out, (4, 2, 1, 0.5)):  # Rein's ×4, ×2, ×1, ×0.5 at patch 16
        assert torch.allclose(o, F.interpolate(m, scale_factor=f, mode="bilinear", align_corners=False), atol=1e-6)
    # patch 14 (the input padded to 518 → 37 tokens): every level still on the input's stride grid
    out14 = FeaturePyramid(6, patch_size=14)([torch.randn(1, 6, 37, 37)] * 4, (512, 500))
    assert [tuple(m.shape[-2:]) for m in out14] == [(128, 125), (64, 63), (32, 32), (16, 16)]
    deconv = FeaturePyramid(6, patch_size=16, mode="deconv")
    assert [tuple(m.shape[-2:]) for m in deconv([torch.randn(1, 6, 4, 6)] * 4, (64, 96))] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert sum(p.numel() for p in deconv.parameters()) > 0


def test_backbone_tokens_follow_the_patch_and_any_input_size():
    bb = ViTBackbone("vit_small_patch14_dinov2", img_size=32, patch_size=16, timm_kwargs=TINY)
    assert [tuple(m.shape) for m in bb(torch.randn(1, 3, 50, 33))] == [(1, 32, 4, 3)] * 4  # padded to 64×48
    bb14 = ViTBackbone("vit_small_patch14_dinov2", img_size=28, patch_size=None, timm_kwargs=TINY)
    assert bb14.patch_size == 14 and tuple(bb14(torch.randn(1, 3, 28, 42))[0].shape) == (1, 32, 2, 3)
    with pytest.raises(ValueError, match="not a timm model"):
        ViTBackbone("dinov2_vitl14")
    with pytest.raises(ValueError, match="four block indices"):
        ViTBackbone("vit_small_patch14_dinov2", img_size=32, out_indices=(0, 1, 9, 3), timm_kwargs=TINY)


@pytest.mark.parametrize("head,dim", [("daformer", 8), ("linear", 4 * 32)])
@pytest.mark.parametrize("tuning", ["full", "frozen", "lora", "rein"])
def test_network_follows_the_contract(head, dim, tuning):
    net = tiny(tuning, head=head).train()
    assert isinstance(net, SegNetwork) and isinstance(net, SupportsPretrainedBackbone)
    x = torch.randn(2, 3, 48, 64)
    out = net(x)
    check_output(out, x, 5, dim)
    assert net.feature_dim == dim
    head_ids = {id(p) for p in net.head_parameters()}
    assert head_ids and not head_ids & {id(p) for p in net.backbone.parameters()}
    net.eval()
    assert net.inference(torch.randn(1, 3, 37, 45)).shape == (1, 5, 37, 45)


# ----------------------------------------------------------------- tuning modes
#: ViT-L/14 at patch 16 and 512 (pos grid 32×32), DAFormer head 256, 19 classes
VITL_BACKBONE = 304_198_656
VITL_HEAD = 4_498_707
VITL_COUNTS = {
    "full": VITL_BACKBONE + VITL_HEAD,
    "frozen": VITL_HEAD,
    # rank 16 on qkv (1024→3072), proj (1024→1024), fc1 (1024→4096), fc2 (4096→1024) of 24 blocks
    "lora": VITL_HEAD + 24 * 16 * ((1024 + 3072) + (1024 + 1024) + (1024 + 4096) + (4096 + 1024)),
    # tokens 24·(100·16 + 16·1024), two shared 1024×1024 linears with bias, one scale
    "rein": VITL_HEAD + 24 * (100 * 16 + 16 * 1024) + 2 * (1024 * 1024 + 1024) + 1,
}


@pytest.mark.parametrize("tuning", list(VITL_COUNTS))
def test_vit_large_trainable_counts(tuning):
    cfg = vfm_cfg([f"model.tuning={tuning}"])
    with torch.device("meta"):
        net = instantiate(cfg.model)
    total_extra = {"lora": VITL_COUNTS["lora"] - VITL_HEAD, "rein": VITL_COUNTS["rein"] - VITL_HEAD}.get(tuning, 0)
    assert net.parameter_counts == {"trainable": VITL_COUNTS[tuning], "total": VITL_BACKBONE + VITL_HEAD + total_extra}
    assert VITL_COUNTS["rein"] - VITL_HEAD == 2_530_817


def _train_steps(net: VFMSegmenter, steps: int = 3) -> None:
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    x, y = torch.randn(2, 3, 32, 32), torch.randint(0, 5, (2, 8, 8))
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(net(x)["logits"], y).backward()
        opt.step()


@pytest.mark.parametrize("tuning", ["frozen", "lora", "rein", "full"])
def test_frozen_weights_do_not_move_and_trainable_ones_do(tuning):
    net = tiny(tuning).train()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    _train_steps(net)
    for n, p in net.named_parameters():
        moved = not torch.equal(before[n], p.detach())
        if n not in trainable:
            assert not moved, f"frozen {n} moved"
    backbone_trainable = {n for n in trainable if n.startswith("backbone.")}
    expected = {
        "frozen": set(),
        "full": {n for n, _ in net.backbone.named_parameters(prefix="backbone")},
        "lora": {n for n in before if "lora_" in n},
        "rein": {n for n in before if n.startswith("backbone.refiner.")},
    }[tuning]
    assert backbone_trainable == expected and (tuning == "frozen" or expected)
    # LoRA's B starts at zero, so only the B matrices (and, after them, the A matrices) move
    assert any(not torch.equal(before[n], p.detach()) for n, p in net.named_parameters() if n in expected) or tuning == "frozen"


def test_frozen_backbone_stays_in_eval_mode_without_stored_activations():
    net = tiny("frozen", drop_path_rate=0.5).train()
    assert net.training and not net.backbone.vit.training and net.decode_head.training
    maps = net.backbone(torch.randn(1, 3, 32, 32))
    assert not any(m.requires_grad for m in maps)  # no autograd graph through the backbone
    assert net.backbone.first_grad_block() == net.backbone.depth


@pytest.mark.parametrize("tuning,kw,first", [("full", {}, 0), ("rein", {}, 1), ("lora", {"lora": {"start_block": 2}}, 2)])
def test_blocks_before_the_first_trained_one_run_without_autograd(tuning, kw, first):
    net = tiny(tuning, **kw).train()
    assert net.backbone.first_grad_block() == first
    modes: list[bool] = []
    hooks = [blk.register_forward_hook(lambda m, i, o: modes.append(torch.is_grad_enabled())) for blk in net.backbone.vit.blocks]
    net(torch.randn(1, 3, 32, 32))["logits"].sum().backward()
    for h in hooks:
        h.remove()
    assert modes == [i >= first for i in range(4)]


def test_lora_targets_start_block_and_zero_init():
    net = tiny("lora", lora={"rank": 4, "alpha": 8, "dropout": 0.0, "start_block": 2}).eval()
    plain = tiny("full").eval()  # same seed: same backbone and head init before the adapters
    names = lora_target_names(plain.backbone.vit.blocks, 2)
    assert names == [f"blocks.{i}.{n}" for i in (2, 3) for n in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")]
    adapted = {n.split(".lora_")[0] for n, p in net.backbone.vit.named_parameters() if p.requires_grad}
    assert adapted == set(names)
    plain_sd = plain.backbone.state_dict()  # the backbone is drawn before the adapters: the same weights
    assert all(torch.equal(plain_sd[k.replace(".base_layer", "")], v) for k, v in net.backbone.state_dict().items() if "lora_" not in k)
    x = torch.randn(1, 3, 32, 32)
    for a, b in zip(net.backbone(x), plain.backbone(x)):  # B = 0: the adapters add nothing yet
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="start_block"):
        tiny("lora", lora={"start_block": 4})


def test_rein_refinement_equals_a_loop_reference():
    torch.manual_seed(1)
    rein = ReinRefiner(num_layers=3, dim=6, num_tokens=4, rank=2, scale_init=0.5, layers=(0, 2))
    x = torch.randn(2, 1 + 5, 6)
    y = rein(x, layer=2, num_prefix=1)
    tokens = rein.tokens_a[1] @ rein.tokens_b[1]  # layer 2 is the second refined one
    expected = x.clone()
    for b in range(2):
        for n in range(1, 6):
            f = x[b, n]
            scores = torch.stack([f @ tokens[j] / math.sqrt(6) for j in range(4)])
            weights = torch.exp(scores) / torch.exp(scores).sum()
            mixed = sum(weights[j] * rein.token_proj(tokens[j]) for j in range(4))
            expected[b, n] = f + 0.5 * rein.feature_proj(mixed + f)
    assert torch.allclose(y, expected, atol=1e-5)
    assert torch.equal(rein(x, layer=1, num_prefix=1), x)  # block 1 is not refined
    with pytest.raises(ValueError, match="outside"):
        ReinRefiner(num_layers=3, dim=6, layers=(3,))


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    def grads(flag: bool):
        net = tiny("lora", lora={"start_block": 1}, grad_checkpointing=flag).train()
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
        loss = net(x)["logits"].square().mean()
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}

    (l0, g0), (l1, g1) = grads(False), grads(True)
    assert torch.allclose(l0, l1) and g0.keys() == g1.keys()
    assert all(torch.allclose(g0[k], g1[k], atol=1e-6) for k in g0)


def test_options_are_checked():
    with pytest.raises(ValueError, match="model.tuning"):
        tiny("adapter")
    with pytest.raises(ValueError, match="model.head"):
        tiny(head="mask2former")
    with pytest.raises(ValueError, match="layer_decay"):
        tiny("rein", layer_decay=0.9)
    with pytest.raises(ValueError, match="model.pyramid"):
        tiny(pyramid="fpn")


# ------------------------------------------------------------ optimizer groups
def test_layer_decay_reaches_the_optimizer():
    """tuning=full with layer_decay: the module's AdamW groups give block i the lr
    base·decay^(depth+1−(i+1)), the embeddings base·decay^(depth+1); the head keeps ×10."""
    from flexseg.build import build_module

    cfg = vfm_cfg(["model=vfm_small", "model.tuning=full", "model.layer_decay=0.5", "optim=adamw_poly", "trainer.max_steps=10",
                   "+model.encoder_kwargs.depth=4", "model.img_size=32"])
    module = build_module(cfg)
    lr = cfg.optim.optimizer.lr

    class _T:
        max_steps = 10

    module._trainer = _T()  # type: ignore[assignment]  # configure_optimizers reads trainer.max_steps
    opt = module.configure_optimizers()["optimizer"]
    lr_of = {id(p): g["initial_lr"] for g in opt.param_groups for p in g["params"]}  # before the warm-up factor
    vit = module.net.backbone.vit
    assert lr_of[id(vit.blocks[3].attn.qkv.weight)] == pytest.approx(lr * 0.5 ** 1)
    assert lr_of[id(vit.blocks[0].mlp.fc1.weight)] == pytest.approx(lr * 0.5 ** 4)
    assert lr_of[id(vit.pos_embed)] == pytest.approx(lr * 0.5 ** 5)
    assert lr_of[id(vit.norm.weight)] == pytest.approx(lr)
    head_mult = cfg.optim.param_groups.head_lr_mult
    assert all(lr_of[id(p)] == pytest.approx(lr * head_mult) for p in module.net.head_parameters())
    names = ("backbone.vit.reg_token", "backbone.vit.blocks.2.ls1.gamma", "backbone.vit.fc_norm.weight")
    assert [layer_id(n, 4) for n in names] == [0, 3, 5]


def test_frozen_parameters_are_out_of_the_optimizer():
    from flexseg.build import build_module

    cfg = vfm_cfg(["model=vfm_small", "model.tuning=rein", "+model.encoder_kwargs.depth=4", "model.img_size=32", "trainer.max_steps=10"])
    module = build_module(cfg)

    class _T:
        max_steps = 10

    module._trainer = _T()  # type: ignore[assignment]
    opt = module.configure_optimizers()["optimizer"]
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    for n, p in module.net.named_parameters():
        assert (id(p) in in_opt) == p.requires_grad, n
    assert not any(id(p) in in_opt for p in module.net.backbone.vit.parameters())
