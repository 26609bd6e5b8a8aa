"""mmseg-style decode-head initialization (head_init=reference)."""
import math

import pytest
import torch

from flexseg.models.daformer import DAFormerHead, init_head


def test_reference_init_statistics():
    torch.manual_seed(0)
    head = DAFormerHead([32, 64, 160, 256], num_classes=19, embed_dim=64)
    init_head(head, "reference")
    bott = head.fuse_layer.bottleneck.conv.weight  # [64, 256, 3, 3]: fan_out = 64·9
    assert bott.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.05)
    assert abs(bott.mean().item()) < 0.01  # normal, not the uniform default's narrower spread
    assert head.conv_seg.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.count_nonzero(head.conv_seg.bias) == 0
    assert torch.all(head.fuse_layer.bottleneck.bn.weight == 1)
    torch.manual_seed(0)
    default = DAFormerHead([32, 64, 160, 256], num_classes=19, embed_dim=64)
    init_head(default, "torch")  # PyTorch defaults: kaiming-uniform(a=√5) fan_in → std 1/√(3·fan_in)
    assert default.fuse_layer.bottleneck.conv.weight.std().item() == pytest.approx(1 / math.sqrt(3 * 256 * 9), rel=0.05)
    with pytest.raises(ValueError):
        init_head(default, "xavier")
