"""Golden values of the networks and their configs, recorded on the code before the
models/ restructure (issue 18): moving blocks between files or writing the model configs
as deltas must not change

* the composed ``cfg.model`` of every ``conf/model`` option and of every experiment
  (``OmegaConf.to_container(cfg.model, resolve=False)``, key order included), stored in
  ``tests/unit/golden/model_configs.json``;
* the state-dict keys of every network (SHA-256 of the sorted key list: checkpoints and the
  mmseg name map of ``weights.py`` depend on them);
* the initial weights after ``torch.manual_seed(0)``: registration order and
  random-number consumption at init. Exactly (SHA-256 of every tensor's bytes in key order)
  on CPUs whose vector kernels round like the recording machine's. Other CPUs round the
  init draws differently in the last bits (the session-12 AVX-512 machine differs from the
  digests; there, its vectorized and scalar kernels (``ATEN_CPU_CAPABILITY=default``) differ
  by ≤ 1e-6 absolute, ≤ 5e-7 relative), so a digest mismatch falls back to a per-tensor
  fingerprint (:func:`fingerprint`: a sum with fixed weights 1 or 2 per position, float64)
  compared with a tolerance of 1e-5 of the tensor's sum of magnitudes — far below what any
  re-ordered, re-drawn or re-scaled initialization moves it. The fingerprints were recorded
  from the code of the golden commit 8033e6c on that machine, where the current code's exact
  digests equal that code's for all 12 networks.

Regenerate (only for an intended change): ``python -m tests.unit.test_model_golden``.
A new config option, experiment or network: ``python -m tests.unit.test_model_golden --new``
records only the names the golden files lack and leaves every recorded entry byte-identical
(a full regeneration on another CPU would rewrite the recorded digests).
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
#: per-tensor fingerprints of the same networks (from the code of 8033e6c, see above)
GOLDEN_FINGERPRINTS = GOLDEN / "model_fingerprints.json"
#: relative tolerance of a fingerprint (last-bit rounding of ≤ 1e-6 relative per element passes)
FINGERPRINT_RTOL = 1e-5

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




def fingerprint(value: torch.Tensor) -> list[float]:
    """[Σ w_i x_i, Σ |x_i|] over the flattened tensor in float64, w_i ∈ {1, 2} from a fixed
    integer hash of i (no RNG, the same on every machine): a re-drawn or permuted tensor moves
    the weighted sum by O(√n · std), a re-scaled one (constants too) by O(Σ |x_i|), last-bit
    rounding by ≤ 2e-6 · Σ |x_i|."""
    x = value.detach().cpu().reshape(-1).to(torch.float64)
    i = torch.arange(x.numel(), dtype=torch.int64)
    weights = (((i * 2654435761) % 4294967296) >> 31).to(torch.float64) + 1
    return [float((x * weights).sum()), float(x.abs().sum())]


def fingerprints(net: torch.nn.Module) -> dict[str, list[float]]:
    """:func:`fingerprint` of every tensor of the state dict, by key."""
    return {k: fingerprint(v) for k, v in sorted(net.state_dict().items()) if torch.is_tensor(v)}


def fingerprint_mismatches(actual: dict[str, list[float]], golden: list[float]) -> list[str]:
    """Keys whose weighted sum differs from ``golden`` (the recorded weighted sums, in sorted-key
    order: the keys themselves are checked by their digest) by more than
    :data:`FINGERPRINT_RTOL` times the tensor's sum of magnitudes."""
    if len(actual) != len(golden):
        return [f"{len(actual)} tensors, {len(golden)} recorded"]
    return [k for (k, (weighted, magnitude)), g in zip(sorted(actual.items()), golden, strict=True)
            if abs(weighted - g) > FINGERPRINT_RTOL * max(magnitude, 1e-30)]


def recorded_fingerprints(net: torch.nn.Module) -> list[float]:
    """What the golden file keeps of :func:`fingerprints`: the weighted sums in sorted-key
    order, 10 significant digits."""
    return [float(f"{weighted:.10g}") for _, (weighted, _) in sorted(fingerprints(net).items())]


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
    net = build_network(NETWORKS[name])
    key_hash, value_hash = digests(net)
    assert key_hash == golden["keys"], "state-dict keys changed"
    if value_hash == golden["values"]:
        return  # bitwise the recorded weights
    # another CPU's vector kernels: the same draws, rounded differently in the last bits
    bad = fingerprint_mismatches(fingerprints(net), json.loads(GOLDEN_FINGERPRINTS.read_text())[name])
    assert not bad, f"initial weights changed (registration order or RNG use): {bad[:5]} ({len(bad)} tensors)"


def test_golden_detects_a_change():
    """The digests see any change of a value and a renamed key; the fingerprints see a
    permuted or re-drawn tensor (even the smallest) but not last-bit rounding."""
    net = build_network(NETWORKS["daformer_mitb0"])
    keys, values = digests(net)
    golden = recorded_fingerprints(net)
    with torch.no_grad():
        net.decode_head.conv_seg.weight.add_(1e-7)
    new_keys, new_values = digests(net)
    assert new_keys == keys and new_values != values
    with torch.no_grad():  # relative rounding noise of 5e-7 on every weight: not a change
        for p in net.parameters():
            p.mul_(1 + 5e-7 * torch.sign(torch.randn_like(p)))
    assert fingerprint_mismatches(fingerprints(net), golden) == []
    with torch.no_grad():
        net.decode_head.conv_seg.bias.copy_(net.decode_head.conv_seg.bias.roll(1))  # 19 values permuted
        torch.nn.init.normal_(net.backbone.mit.block4[1].mlp.dwconv.dwconv.weight, 0.0, 0.47)  # re-drawn
    assert fingerprint_mismatches(fingerprints(net), golden) == [
        "backbone.mit.block4.1.mlp.dwconv.dwconv.weight", "decode_head.conv_seg.bias"]
    net.decode_head.add_module("extra", torch.nn.Linear(1, 1))
    assert digests(net)[0] != keys


def regenerate(only_new: bool = False) -> list[str]:
    """Write the golden files; ``only_new``: add the config cases and networks they lack and
    keep every recorded entry as it is (same formatting, so the files only grow). Returns the
    names written."""
    GOLDEN.mkdir(exist_ok=True)
    old_configs = json.loads(GOLDEN_CONFIGS.read_text()) if only_new else {}
    old_nets = json.loads(GOLDEN_NETWORKS.read_text()) if only_new else {}
    old_prints = json.loads(GOLDEN_FINGERPRINTS.read_text()) if only_new else {}
    written = []
    configs = {}
    for case, ov in sorted(config_cases().items()):
        if case in old_configs:
            configs[case] = old_configs[case]
        else:
            configs[case] = OmegaConf.to_container(compose_model(ov), resolve=False)
            written.append(case)
    GOLDEN_CONFIGS.write_text(json.dumps(configs, indent=1) + "\n")
    nets, prints = {}, {}
    for name, ov in NETWORKS.items():  # one network in memory at a time (MiT-B5: 85 M parameters)
        if name in old_nets and name in old_prints:
            nets[name], prints[name] = old_nets[name], old_prints[name]
            continue
        net = build_network(ov)
        nets[name] = dict(zip(("keys", "values"), digests(net)))
        prints[name] = recorded_fingerprints(net)
        written.append(name)
    if not only_new or any(name not in old_nets for name in nets):
        GOLDEN_NETWORKS.write_text(json.dumps(nets, indent=1) + "\n")
        GOLDEN_FINGERPRINTS.write_text(json.dumps(prints, separators=(",", ":")) + "\n")
    return written


if __name__ == "__main__":  # regenerate the golden values (intended changes only); --new: add missing names only
    import sys

    print("written:", ", ".join(regenerate(only_new="--new" in sys.argv[1:])) or "nothing")
