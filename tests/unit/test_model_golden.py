"""Golden values of the networks and their configs, recorded on the code before the
models/ restructure (issue 18): moving blocks between files or writing the model configs
as deltas must not change

* the composed ``cfg.model`` of every ``conf/model`` option and of every experiment
  (``OmegaConf.to_container(cfg.model, resolve=False)``, key order included), stored in
  ``tests/unit/golden/model_configs.json``;
* the state-dict keys of every network (SHA-256 of the sorted key list: checkpoints and the
  mmseg name map of ``weights.py`` depend on them);
* the initial weights (SHA-256 of every tensor's bytes in key order after
  ``torch.manual_seed(0)``): registration order and random-number consumption at init.

Regenerate (only for an intended change): ``python -m tests.unit.test_model_golden``.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
GOLDEN = Path(__file__).resolve().parent / "golden"
#: recorded on main at 09b5dbc (before the restructure)
GOLDEN_CONFIGS = GOLDEN / "model_configs.json"
GOLDEN_NETWORKS = GOLDEN / "model_networks.json"

MODELS = ["daformer_mitb0", "daformer_mitb1", "daformer_mitb2", "daformer_mitb3", "daformer_mitb4", "daformer_mitb5",
          "hrda_mitb0", "hrda_mitb5"]
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
#: large encoders (≥ 45 M parameters): a few seconds each to build and hash
LARGE = {"daformer_mitb3", "daformer_mitb4", "daformer_mitb5", "hrda_mitb5"}


def compose_model(overrides: list[str]):
    """``cfg.model`` of conf/train.yaml with ``overrides``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=overrides).model


def config_cases() -> dict[str, list[str]]:
    cases = {f"model={m}": [f"model={m}"] for m in MODELS}
    cases.update({f"+experiment={e}": [f"+experiment={e}"] for e in EXPERIMENTS})
    return cases


#: networks: name → overrides (the regularizer variants on the small encoders)
NETWORKS = {m: [f"model={m}"] for m in MODELS}
NETWORKS["daformer_flex@mitb0"] = ["+experiment=daformer_flex", "model=daformer_mitb0"]
NETWORKS["hrda_flex@mitb0"] = ["+experiment=hrda_flex", "model=hrda_mitb0"]
NETWORKS["daformer_mitb0@reference_init"] = ["model=daformer_mitb0", "model.head_init=reference"]
NETWORKS["hrda_mitb0@reference_init"] = ["model=hrda_mitb0", "model.head_init=reference"]


def build_network(overrides: list[str]) -> torch.nn.Module:
    """The network of ``overrides`` (random init, no file read) after ``torch.manual_seed(0)``."""
    cfg = compose_model([*overrides, "seed=0", "model.pretrained=null", "paths.pretrained_dir=data/pretrained"])
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feature distance without pretrained weights
        return instantiate(cfg)


def digests(net: torch.nn.Module) -> tuple[str, str]:
    """(SHA-256 of the sorted state-dict keys, SHA-256 of the tensors' bytes in that order)."""
    state = net.state_dict()
    keys = sorted(state)
    key_hash = hashlib.sha256("\n".join(keys).encode()).hexdigest()
    h = hashlib.sha256()
    for k in keys:
        if not torch.is_tensor(state[k]):  # extra state (SHADE's numpy generator): shade.py's business
            h.update(f"{k}:extra".encode())
            continue
        v = state[k].detach().cpu().contiguous()
        h.update(f"{k}:{v.dtype}:{tuple(v.shape)}".encode())
        h.update(v.numpy().tobytes())
    return key_hash, h.hexdigest()




def _param(name: str):
    return pytest.param(name, marks=pytest.mark.slow) if name in LARGE else name


@pytest.mark.parametrize("case", sorted(config_cases()))
def test_model_config_unchanged(case):
    golden = json.loads(GOLDEN_CONFIGS.read_text())
    actual = OmegaConf.to_container(compose_model(config_cases()[case]), resolve=False)
    assert actual == golden[case]
    # key order too (it is the order of the kwargs and of the stored config)
    assert json.dumps(actual) == json.dumps(golden[case])


@pytest.mark.parametrize("name", [_param(n) for n in NETWORKS])
def test_network_state_dict_unchanged(name):
    golden = json.loads(GOLDEN_NETWORKS.read_text())[name]
    key_hash, value_hash = digests(build_network(NETWORKS[name]))
    assert key_hash == golden["keys"], "state-dict keys changed"
    assert value_hash == golden["values"], "initial weights changed (registration order or RNG use)"


def test_golden_detects_a_change():
    """The digests see one permuted init draw and one renamed key."""
    net = build_network(NETWORKS["daformer_mitb0"])
    keys, values = digests(net)
    with torch.no_grad():
        net.decode_head.conv_seg.weight.add_(1e-7)
    new_keys, new_values = digests(net)
    assert new_keys == keys and new_values != values
    net.decode_head.add_module("extra", torch.nn.Linear(1, 1))
    assert digests(net)[0] != keys


if __name__ == "__main__":  # regenerate the golden values (intended changes only)
    GOLDEN.mkdir(exist_ok=True)
    configs = {case: OmegaConf.to_container(compose_model(ov), resolve=False) for case, ov in sorted(config_cases().items())}
    GOLDEN_CONFIGS.write_text(json.dumps(configs, indent=1) + "\n")
    nets = {name: dict(zip(("keys", "values"), digests(build_network(ov)))) for name, ov in NETWORKS.items()}
    GOLDEN_NETWORKS.write_text(json.dumps(nets, indent=1) + "\n")
