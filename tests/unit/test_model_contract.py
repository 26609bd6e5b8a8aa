"""The network contract (flexseg.models.base): every conf/model network, built small from its
config, is a ``SegNetwork`` whose output follows ``SegOutput`` (keys, shapes, ``feature_dim``
= channels of ``features``), also with the regularizers on; ``check_output`` rejects
outputs that break it; the members SegModule reads are the contract's."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from torch import nn

from flexseg.models.base import SegNetwork, SegNetworkBase, SupportsPretrainedBackbone, SupportsRegularizers, check_output

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
LARGE = {"daformer_mitb3", "daformer_mitb4", "daformer_mitb5", "hrda_mitb5"}
K = 19  # the configs' num_classes without data.num_classes


def build(overrides: list[str]) -> nn.Module:
    """The config's network with a narrow head, random init (no file read)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*overrides, "model.pretrained=null"]).model
    cfg.embed_dim, cfg.dilations = 16, [1, 2]
    if cfg._target_.endswith("HRDA"):
        cfg.attention_embed_dim, cfg.hr_crop_size = 8, [32, 32]
    if cfg._target_.endswith("VFMSegmenter"):  # the same timm family, 4 blocks (ViT-L would take 1.2 GB)
        cfg.encoder_kwargs, cfg.img_size = {"depth": 4}, 64
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feature distance without pretrained weights
        return instantiate(cfg)


def check_contract(net: nn.Module, images: torch.Tensor) -> dict:
    assert isinstance(net, SegNetwork) and isinstance(net, SegNetworkBase)
    # MiT networks carry the reference regularizers; foundation-model ones the pretrained-backbone members
    assert isinstance(net, SupportsRegularizers) or isinstance(net, SupportsPretrainedBackbone)
    assert net.num_classes == K and net.feature_dim == 16
    out = net(images)
    check_output(out, images, net.num_classes, net.feature_dim)
    assert out["features"].shape[1] == net.feature_dim
    head = {id(p) for p in net.head_parameters()}
    assert head and head <= {id(p) for p in net.parameters()}
    assert not head & {id(p) for p in net.backbone.parameters()}
    return out


@pytest.mark.parametrize("name", [pytest.param(m, marks=pytest.mark.slow) if m in LARGE else m for m in MODELS])
def test_every_model_config_follows_the_contract(name):
    net = build([f"model={name}"])
    x = torch.randn(2, 3, 64, 128)
    out = check_contract(net.train(), x)
    hrda = type(net).__name__ == "HRDA"
    assert set(out) == ({"logits", "features", "features_box", "logits_weight", "aux"} if hrda else {"logits", "features"})
    if hrda:
        assert out["features"].shape[-2:] == (8, 8) and out["aux"][0]["logits"].shape == (2, K, 8, 8)
    net.eval()
    with torch.no_grad():
        assert set(check_contract(net, x)) == set(out)
    assert net.inference(torch.randn(1, 3, 40, 72)).shape == (1, K, 40, 72)


@pytest.mark.parametrize("experiment,model", [("daformer_flex", "daformer_mitb0"), ("hrda_flex", "hrda_mitb0")])
def test_regularized_networks_follow_the_contract(experiment, model):
    net = build([f"+experiment={experiment}", f"model={model}"]).train()
    sh = getattr(net.backbone, "style_hallucination", None)
    if sh is not None:  # SHADE needs its base styles before a training forward
        sh.set_styles(torch.zeros_like(sh.proto_mean), torch.ones_like(sh.proto_std))
    x = torch.randn(2, 3, 64, 128)
    out = check_contract(net, x)
    assert "fd" in out and out.get("hallucinated", False) == (sh is not None)
    assert out["logits"].shape[0] == (4 if sh is not None else 2)
    assert net.style_features(x).shape[:2] == (2, net.backbone.out_channels[0])


def _out(**kw):
    out = {"logits": torch.zeros(2, 5, 8, 10), "features": torch.zeros(2, 4, 8, 10)}
    out.update(kw)
    return out


@pytest.mark.parametrize(
    "out, message",
    [
        ({"logits": torch.zeros(2, 5, 8, 10)}, "missing key 'features'"),
        (_out(logits=torch.zeros(2, 6, 8, 10)), "logits: \\[2, 6, 8, 10\\]"),
        (_out(features=torch.zeros(2, 4, 8, 8)), "features: \\[2, 4, 8, 8\\]"),
        (_out(features_box=(0, 0, 16, 16)), "features: \\[2, 4, 8, 10\\], expected \\[2, 4, 4, 4\\]"),
        (_out(features_box=(0, 8, 16, 48)), "not inside"),
        (_out(hallucinated=True), "logits: \\[2, 5, 8, 10\\], expected \\[4, 5, 8, 10\\]"),
        (_out(aux=[{"logits": torch.zeros(2, 5, 3, 3), "box": (0, 0, 16, 16), "weight": 0.1}]), "aux\\[0\\].logits"),
        (_out(aux=[{"logits": torch.zeros(2, 5, 3, 3), "box": None, "weight": None}]), "aux\\[0\\].weight"),
        (_out(fd={"features": torch.zeros(2, 8, 1, 1), "imnet_features": torch.zeros(2, 8, 1, 2)}), "fd.imnet_features"),
        (_out(logits_weight="0.9"), "logits_weight"),
    ],
)
def test_check_output_rejects(out, message):
    images = torch.zeros(2, 3, 32, 40)
    with pytest.raises(ValueError, match=message):
        check_output(out, images, 5, 4)


def test_check_output_accepts_hrda_style_output():
    images = torch.zeros(2, 3, 32, 40)
    box = (8, 16, 24, 32)
    check_output(_out(features=torch.zeros(2, 4, 4, 4), features_box=box, logits_weight=0.9,
                      aux=[{"logits": torch.zeros(2, 5, 4, 4), "box": box, "weight": 0.1},
                           {"logits": torch.zeros(2, 5, 4, 5), "box": None, "weight": 0.0}]), images, 5, 4)


def test_protocol_rejects_a_module_without_the_contract():
    class NoFeatureDim(nn.Module):
        num_classes = 2

        def inference(self, images): ...

        def head_parameters(self): return []

    assert not isinstance(NoFeatureDim(), SegNetwork)
    assert not isinstance(nn.Conv2d(3, 2, 1), SegNetwork)


def test_segmodule_reads_only_contract_members():
    """Every ``self.net.X`` in flexseg/module.py is a member of the contract (or of nn.Module):
    a new use must be added to SegNetwork / SupportsRegularizers first."""
    used = set(re.findall(r"self\.net\.(\w+)", (ROOT / "flexseg" / "module.py").read_text()))
    contract = {
        n for proto in (SegNetwork, SupportsRegularizers, SupportsPretrainedBackbone)
        for n in [*proto.__annotations__, *(k for k, v in vars(proto).items() if callable(v) and not k.startswith("_"))]
    }
    assert {"feature_dim", "inference", "head_parameters", "fd_cfg", "style_features"} <= contract
    assert used, "no self.net.X found: the pattern is outdated"
    assert used - contract - set(dir(nn.Module())) == set(), used - contract - set(dir(nn.Module()))
