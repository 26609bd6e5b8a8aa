"""Compact checkpoints of foundation-model backbones (issue 28 item 5): with
``model.tuning=frozen | lora | rein`` and ``model.pretrained=FILE`` a checkpoint stores the
trained parameters plus FILE's path and SHA-256, not the frozen backbone; ``flexseg.eval``
rebuilds the network from FILE (and refuses another or a missing file), ``flexseg.export``
writes a self-contained copy, resume stays exact. A tiny random ViT (4 blocks of width 64,
saved by the test in timm's layout at patch 14, loaded at patch 16) stands in for DINOv2.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from flexseg.eval import evaluate
from flexseg.models.vit_weights import sha256_file
from flexseg.models.weights import BACKBONE_RECORD, BackboneFileMismatchError
from flexseg.utils.ckpt_config import apply_checkpoint_config
from tests.integration.test_configs import compose_cfg
from tests.integration.test_resume import _run
from tests.integration.test_train import ROOT, TINY

GEOMETRY = {"depth": 4, "embed_dim": 64, "num_heads": 2}
#: model=vfm_small shrunk further: 4 blocks of width 64, a narrow head, few Rein tokens
NET = ["model=vfm_small", *(f"+model.encoder_kwargs.{k}={v}" for k, v in GEOMETRY.items()), "model.img_size=64",
       "model.embed_dim=16", "model.rein.num_tokens=8", "model.rein.rank=4", "model.lora.rank=4"]
TRAIN = [*TINY, "trainer=debug", "trainer.limit_test_batches=null", "data.num_test=2"]


def write_backbone_file(path: Path, seed: int = 0, **geometry: int) -> Path:
    """A random timm DINOv2-geometry ViT's state dict as ``.safetensors`` or ``.pth``."""
    import timm

    torch.manual_seed(seed)
    vit = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, img_size=56, **{**GEOMETRY, **geometry})
    state = {k: v.contiguous() for k, v in vit.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


@dataclass
class Trained:
    weights: Path  # the backbone file
    ckpt: Path  # last.ckpt (compact)
    miou: dict[str, float]  # the in-memory module's test results after training
    excluded: list[str]  # net.checkpoint_excluded_keys()
    full: dict[str, torch.Tensor]  # the network's whole state dict after training


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``trained(tuning)``: 2 steps of training with a backbone file, then the test (cached)."""
    from flexseg.build import build_datamodule, build_module, build_trainer
    from flexseg.utils.ckpt_config import StoreConfig

    root = tmp_path_factory.mktemp("vfm_ckpt")
    cache: dict[str, Trained] = {}

    def get(tuning: str) -> Trained:
        if tuning not in cache:
            weights = write_backbone_file(root / f"backbone_{tuning}{'.safetensors' if tuning == 'rein' else '.pth'}")
            cfg = compose_cfg([*TRAIN, *NET, f"model.pretrained={weights}", f"model.tuning={tuning}"])
            with open_dict(cfg):
                cfg.paths.output_dir = str(root / tuning)
            import lightning as L

            L.seed_everything(cfg.seed, workers=True)
            dm, module = build_datamodule(cfg), build_module(cfg)
            trainer = build_trainer(cfg, [StoreConfig(cfg)])
            trainer.fit(module, datamodule=dm)
            ckpt = root / tuning / "checkpoints" / "last.ckpt"
            trainer.save_checkpoint(ckpt)
            trainer.test(module, datamodule=dm, verbose=False)  # the in-memory module
            cache[tuning] = Trained(weights, ckpt, {d: r["miou"] for d, r in module.results.items()},
                                    module.net.checkpoint_excluded_keys(),
                                    {k: v.clone() for k, v in module.net.state_dict().items()})
        return cache[tuning]

    return get


def _evaluate(ckpt: Path, out: Path, *overrides: str) -> dict[str, float]:
    """``python -m flexseg.eval ckpt_path=CKPT [overrides]`` in process → per-domain mIoU."""
    args = [f"ckpt_path={ckpt}", *overrides]
    cfg = compose_cfg(args, name="eval")
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
    apply_checkpoint_config(cfg, overrides=args)
    return evaluate(cfg)["miou"]


def _net_bytes(state: dict[str, torch.Tensor]) -> int:
    return sum(v.numel() * v.element_size() for k, v in state.items() if k.startswith("net."))


@pytest.mark.parametrize("tuning", ["rein", "lora"])
def test_compact_checkpoint_leaves_the_backbone_out_and_evaluates_as_trained(trained, tuning, tmp_path):
    run = trained(tuning)
    state = torch.load(run.ckpt, map_location="cpu", weights_only=True)  # plain values only
    record = state[BACKBONE_RECORD]
    assert record == {"path": str(run.weights), "sha256": sha256_file(run.weights), "excluded": len(run.excluded),
                      "encoder": "vit_small_patch14_dinov2", "tuning": tuning}
    stored = {k[len("net."):] for k in state["state_dict"] if k.startswith("net.")}
    assert stored.isdisjoint(run.excluded) and stored | set(run.excluded) == set(run.full)
    vit_stored = sorted(k for k in stored if k.startswith("backbone.vit."))
    assert all(".lora_" in k for k in vit_stored) and (bool(vit_stored) == (tuning == "lora"))
    compact, full = _net_bytes(state["state_dict"]), sum(v.numel() * v.element_size() for v in run.full.values())
    print(f"\n{tuning}: network tensors {compact / 1e3:.0f} kB stored of {full / 1e3:.0f} kB; "
          f"checkpoint file {run.ckpt.stat().st_size / 1e3:.0f} kB")
    assert compact < 0.25 * full
    assert _evaluate(run.ckpt, tmp_path / "eval") == pytest.approx(run.miou, abs=1e-9)


def test_export_writes_a_self_contained_checkpoint(trained, tmp_path):
    run = trained("rein")
    copy = shutil.copy(run.weights, tmp_path / "elsewhere.safetensors")  # same SHA-256, another path: accepted
    out = tmp_path / "exported" / "full.ckpt"
    cmd = [sys.executable, "-m", "flexseg.export", f"ckpt_path={run.ckpt}", f"output={out}", f"model.pretrained={copy}",
           f"hydra.run.dir={tmp_path / 'export_run'}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}: {len(run.full)} network tensors ({len(run.excluded)} from the backbone file)" in proc.stdout
    Path(copy).unlink()
    state = torch.load(out, map_location="cpu", weights_only=True)
    assert BACKBONE_RECORD not in state and state["flexseg_exported"]["backbone"]["sha256"] == sha256_file(run.weights)
    net = {k[len("net."):]: v for k, v in state["state_dict"].items() if k.startswith("net.")}
    assert net.keys() == run.full.keys()
    # the 14→16 kernel resampling (a pseudo-inverse) rounds by thread count: the export process
    # runs on one thread, this one on OMP_NUM_THREADS; every other tensor is copied bit for bit
    resampled = "backbone.vit.patch_embed.proj.weight"
    assert all(torch.equal(net[k], run.full[k]) for k in net if k != resampled)
    assert torch.allclose(net[resampled], run.full[resampled], rtol=1e-5, atol=1e-7)
    compact = torch.load(run.ckpt, map_location="cpu", weights_only=True)
    assert state["optimizer_states"][0]["state"].keys() == compact["optimizer_states"][0]["state"].keys()
    print(f"\nexported {out.stat().st_size / 1e3:.0f} kB, compact {run.ckpt.stat().st_size / 1e3:.0f} kB")
    assert out.stat().st_size > run.ckpt.stat().st_size
    # no backbone file needed: a full checkpoint ignores model.pretrained
    assert _evaluate(out, tmp_path / "eval", "model.pretrained=null") == pytest.approx(run.miou, abs=1e-9)


def test_another_backbone_file_is_refused(trained, tmp_path):
    run = trained("rein")
    from safetensors.torch import load_file, save_file

    tampered = load_file(str(run.weights))
    tampered["blocks.0.attn.qkv.weight"][0, 0] += 1e-3
    save_file(tampered, str(tmp_path / "tampered.safetensors"))
    expected = sha256_file(run.weights)
    with pytest.raises(BackboneFileMismatchError) as err:
        _evaluate(run.ckpt, tmp_path / "eval", f"model.pretrained={tmp_path / 'tampered.safetensors'}")
    msg = str(err.value)
    assert expected in msg and sha256_file(tmp_path / "tampered.safetensors") in msg and str(run.weights) in msg
    assert "model.pretrained=PATH" in msg
    # a file for another model size fails the weight check; the message adds the recorded file
    other = write_backbone_file(tmp_path / "deeper.pth", depth=5)
    with pytest.raises(BackboneFileMismatchError, match=f"(?s)blocks\\.4\\..*sha256 {expected}.*sha256 {sha256_file(other)}"):
        _evaluate(run.ckpt, tmp_path / "eval", f"model.pretrained={other}")


def test_a_missing_backbone_file_is_named(trained, tmp_path):
    run = trained("rein")
    gone = tmp_path / "moved" / "dinov2_vitl14_pretrain.pth"
    state = torch.load(run.ckpt, map_location="cpu", weights_only=False)
    state[BACKBONE_RECORD]["path"] = str(gone)  # as if trained on a machine where the file was there
    for kind in ("composed", "resolved"):
        state["flexseg_config"][kind]["model"]["pretrained"] = str(gone)
    ckpt = tmp_path / "elsewhere.ckpt"
    torch.save(state, ckpt)
    with pytest.raises(FileNotFoundError, match=f"(?s)not found: '{re.escape(str(gone))}'.*recorded there.*model\\.pretrained=PATH"):
        _evaluate(ckpt, tmp_path / "eval")
    with pytest.raises(FileNotFoundError, match=f"(?s)not found: '/nowhere/w\\.pth'.*recorded as '{re.escape(str(gone))}'"):
        _evaluate(ckpt, tmp_path / "eval", "model.pretrained=/nowhere/w.pth")
    # the file found again (same SHA-256): model.pretrained= overrides the recorded path
    assert _evaluate(ckpt, tmp_path / "eval", f"model.pretrained={run.weights}") == pytest.approx(run.miou, abs=1e-9)


@pytest.mark.parametrize("tuning,compact", [("full", False), ("frozen", True)])
def test_which_tunings_write_compact_checkpoints(tmp_path, tuning, compact):
    weights = write_backbone_file(tmp_path / "backbone.pth")
    module, _, _ = _run(tmp_path / "run", 1, extra=[*NET, f"model.pretrained={weights}", f"model.tuning={tuning}"])
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    expected = set(module.state_dict())
    if compact:
        expected -= {f"net.{k}" for k in module.net.checkpoint_excluded_keys()}
        assert state[BACKBONE_RECORD]["tuning"] == tuning and state[BACKBONE_RECORD]["excluded"] > 0
    else:  # tuning=full trains the backbone: every weight stays in the checkpoint, as for MiT
        assert BACKBONE_RECORD not in state
    assert set(state["state_dict"]) == expected


def test_resume_with_a_compact_checkpoint_is_exact(tmp_path):
    weights = write_backbone_file(tmp_path / "backbone.safetensors")
    extra = [*NET, f"model.pretrained={weights}", "model.tuning=rein"]
    straight, dm_straight, losses_straight = _run(tmp_path / "a", 4, extra=extra)
    _, _, losses_first = _run(tmp_path / "b", 4, stop_at=2, extra=extra)
    ckpt = tmp_path / "b" / "checkpoints" / "last.ckpt"
    assert BACKBONE_RECORD in torch.load(ckpt, map_location="cpu", weights_only=True)
    resumed, dm_resumed, losses_second = _run(tmp_path / "c", 4, ckpt_path=str(ckpt), extra=extra)
    assert losses_first + losses_second == losses_straight
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        if isinstance(a, dict):  # extra state (the GAP pixel-sampling generator)
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a), name
        else:
            assert torch.equal(a, b), name
    opt_a, opt_b = (m.trainer.optimizers[0].state_dict()["state"] for m in (straight, resumed))
    assert opt_a.keys() == opt_b.keys() and all(torch.equal(opt_a[i][k], opt_b[i][k]) for i in opt_a for k in opt_a[i])
    sa, sb = dm_straight.sampler.state_dict(), dm_resumed.sampler.state_dict()
    assert all(torch.equal(sa[k], sb[k]) if torch.is_tensor(sa[k]) else sa[k] == sb[k] for k in sa)
    # resuming with another backbone file stops before any step
    other = write_backbone_file(tmp_path / "other.safetensors", seed=1)
    with pytest.raises(BackboneFileMismatchError, match=f"(?s)last.ckpt.*{sha256_file(weights)}.*{sha256_file(other)}"):
        _run(tmp_path / "d", 4, ckpt_path=str(ckpt), extra=[*NET, f"model.pretrained={other}", "model.tuning=rein"])
