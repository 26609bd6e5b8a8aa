"""Convolution blocks with mmseg's attribute names (``conv``, ``bn``, ``proj``), so that
published DAFormer / HRDA checkpoints map 1:1 onto our state dicts (``weights.py``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConvBNReLU", "LinearEmbed", "SeparableConvBNReLU"]


class ConvBNReLU(nn.Module):
    """Conv (no bias) → BatchNorm → ReLU, mmseg's ``ConvModule`` (``conv``, ``bn``).

    The padding keeps the spatial size ("same") for odd kernels.

    Args:
        cin: input channels.
        cout: output channels.
        kernel: square kernel size.
        dilation: dilation of the kernel.
        groups: convolution groups (``cin`` = depthwise).

    Shape:
        - Input: :math:`(B, cin, H, W)`
        - Output: :math:`(B, cout, H, W)`

    Example:
        >>> block = ConvBNReLU(4, 8, kernel=3, dilation=2)
        >>> block(torch.randn(2, 4, 5, 6)).shape
        torch.Size([2, 8, 5, 6])
        >>> sorted(block.state_dict())[:3]
        ['bn.bias', 'bn.num_batches_tracked', 'bn.running_mean']
    """

    def __init__(self, cin: int, cout: int, kernel: int = 1, dilation: int = 1, groups: int = 1) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class SeparableConvBNReLU(nn.Module):
    """Depthwise k×k (dilated) conv + pointwise 1×1 conv, each with BN and ReLU
    (mmseg's ``DepthwiseSeparableConvModule``: ``depthwise_conv``, ``pointwise_conv``).

    Args:
        cin: input channels.
        cout: output channels.
        kernel: depthwise kernel size.
        dilation: depthwise dilation.

    Shape:
        - Input: :math:`(B, cin, H, W)`
        - Output: :math:`(B, cout, H, W)`

    Example:
        >>> block = SeparableConvBNReLU(4, 8, kernel=3, dilation=6)
        >>> block(torch.randn(1, 4, 7, 9)).shape
        torch.Size([1, 8, 7, 9])
        >>> block.depthwise_conv.conv.weight.shape  # one 3×3 filter per input channel
        torch.Size([4, 1, 3, 3])
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, dilation: int = 1) -> None:
        super().__init__()
        self.depthwise_conv = ConvBNReLU(cin, cin, kernel, dilation=dilation, groups=cin)
        self.pointwise_conv = ConvBNReLU(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


class LinearEmbed(nn.Module):
    """Per-pixel linear projection of a feature map (mmseg's ``MLP``: ``proj``).

    Args:
        cin: input channels.
        dim: output channels.

    Shape:
        - Input: :math:`(B, cin, H, W)`
        - Output: :math:`(B, dim, H, W)`

    Example:
        >>> embed = LinearEmbed(3, 5)
        >>> x = torch.randn(2, 3, 4, 6)
        >>> y = embed(x)
        >>> y.shape
        torch.Size([2, 5, 4, 6])
        >>> torch.allclose(y[1, :, 2, 3], embed.proj(x[1, :, 2, 3]), atol=1e-6)  # a 1×1 conv
        True
    """

    def __init__(self, cin: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cin, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        y = self.proj(x.flatten(2).transpose(1, 2))
        return y.transpose(1, 2).reshape(b, -1, h, w)
