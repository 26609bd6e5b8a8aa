"""SegModule's checkpoint hooks with a network whose frozen backbone comes from a file
(flexseg/models/base.py ``SupportsPretrainedBackbone``): the saved state leaves it out and
records the file; loading checks the file and puts the network's own tensors back."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from torch import nn

from flexseg.models.vit_weights import sha256_file
from flexseg.models.weights import BACKBONE_RECORD, BackboneFileMismatchError, compact_state_dict, restore_excluded_weights
from flexseg.module import SegModule


class FakeNet(nn.Module):
    """A frozen "backbone" (weights from ``path``, when given) and a trained head."""

    def __init__(self, path: Path | None, tuning: str = "rein") -> None:
        super().__init__()
        self.backbone, self.head, self.tuning, self.path = nn.Linear(3, 4), nn.Linear(4, 2), tuning, path
        self.backbone.register_buffer("stat", torch.arange(4.0))
        if path is not None:
            self.backbone.load_state_dict(torch.load(path, weights_only=True))
            self.backbone.requires_grad_(tuning == "full")

    def backbone_file(self) -> dict[str, str] | None:
        if self.path is None or self.tuning == "full":
            return None
        return {"path": str(self.path), "sha256": sha256_file(self.path)}

    def checkpoint_excluded_keys(self) -> list[str]:
        return [f"backbone.{k}" for k in self.backbone.state_dict()] if self.backbone_file() else []

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())


def _module(net: nn.Module) -> SegModule:
    return SegModule(net, nn.Module(), optimizer=None, param_groups=None, scheduler=None, boundary_kernel_sizes=(3,), num_classes=2)


def _file(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    torch.save({**nn.Linear(3, 4).state_dict(), "stat": torch.arange(4.0) + seed}, path)
    return path


def _saved(module: SegModule) -> dict:
    """What a checkpoint holds after torch.save / torch.load(weights_only=True)."""
    ckpt = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(ckpt)
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_compact_round_trip(tmp_path):
    weights = _file(tmp_path / "w.pth", 0)
    trained = _module(FakeNet(weights))
    with torch.no_grad():
        trained.net.head.weight.add_(1.0)
    ckpt = _saved(trained)
    assert set(ckpt["state_dict"]) == {"net.head.weight", "net.head.bias"}
    assert ckpt[BACKBONE_RECORD] == {"path": str(weights), "sha256": sha256_file(weights), "excluded": 3, "encoder": None,
                                     "tuning": "rein"}
    fresh = _module(FakeNet(weights))
    fresh.on_load_checkpoint(ckpt)
    fresh.load_state_dict(ckpt["state_dict"], strict=True)  # what Lightning does next
    for (name, a), (_, b) in zip(trained.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), name


def test_stored_tensors_win_over_the_file(tmp_path):
    weights = _file(tmp_path / "w.pth", 0)
    net = FakeNet(weights)
    state = {f"net.{k}": v.clone() for k, v in net.state_dict().items()}
    record = compact_state_dict(state, net)
    assert record["excluded"] == 3 and "net.backbone.weight" not in state
    state["net.backbone.bias"] = torch.full((4,), 7.0)  # e.g. a key the network no longer excludes
    assert restore_excluded_weights(state, net, record, "ckpt") == 2
    assert torch.equal(state["net.backbone.bias"], torch.full((4,), 7.0))


def test_another_file_or_none_is_refused(tmp_path):
    ckpt = _saved(_module(FakeNet(_file(tmp_path / "w.pth", 0))))
    other = _file(tmp_path / "other.pth", 1)
    with pytest.raises(BackboneFileMismatchError) as err:
        _module(FakeNet(other)).on_load_checkpoint(ckpt)
    msg = str(err.value)
    assert sha256_file(tmp_path / "w.pth") in msg and sha256_file(other) in msg and "model.pretrained=PATH" in msg
    assert str(tmp_path / "w.pth") in msg and str(other) in msg
    with pytest.raises(BackboneFileMismatchError, match="loads no backbone file"):
        _module(FakeNet(None)).on_load_checkpoint(ckpt)


@pytest.mark.parametrize("case", ["no file", "tuning=full", "plain network"])
def test_full_checkpoints_are_unchanged(tmp_path, case):
    net = {"no file": lambda: FakeNet(None), "tuning=full": lambda: FakeNet(_file(tmp_path / "w.pth", 0), "full"),
           "plain network": lambda: nn.Sequential(nn.Linear(2, 2))}[case]()
    module = _module(net)
    ckpt = _saved(module)
    assert BACKBONE_RECORD not in ckpt and set(ckpt["state_dict"]) == set(module.state_dict())
    module.on_load_checkpoint(ckpt)
    module.load_state_dict(ckpt["state_dict"], strict=True)


def test_an_unreadable_backbone_file_gives_a_full_checkpoint(tmp_path):
    weights = _file(tmp_path / "w.pth", 0)
    module = _module(FakeNet(weights))
    weights.unlink()  # moved away during training: the save must not fail
    ckpt = _saved(module)
    assert BACKBONE_RECORD not in ckpt and set(ckpt["state_dict"]) == set(module.state_dict())
