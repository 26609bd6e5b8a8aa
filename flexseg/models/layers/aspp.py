"""DAFormer's context-aware fusion: an ASPP-like block of parallel dilated branches."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from flexseg.models.layers.conv import ConvBNReLU, SeparableConvBNReLU

__all__ = ["ASPPFusion"]


class ASPPFusion(nn.Module):
    """ASPP-like fusion (DAFormer's ``sep_aspp`` without image pooling).

    One branch per dilation — a 1×1 :class:`ConvBNReLU` for dilation 1, a depthwise-
    separable 3×3 :class:`SeparableConvBNReLU` otherwise — applied in parallel,
    concatenated, then a 3×3 ``bottleneck`` :class:`ConvBNReLU`. Attribute names
    (``aspp_modules``, ``bottleneck``) are mmseg's.

    Args:
        cin: input channels.
        channels: width of every branch and of the output.
        dilations: one branch per entry.

    Shape:
        - Input: :math:`(B, cin, H, W)`
        - Output: :math:`(B, channels, H, W)`

    Example:
        >>> fusion = ASPPFusion(8, 4, dilations=(1, 2))
        >>> fusion(torch.randn(2, 8, 6, 6)).shape
        torch.Size([2, 4, 6, 6])
        >>> [type(m).__name__ for m in fusion.aspp_modules]
        ['ConvBNReLU', 'SeparableConvBNReLU']
        >>> fusion.bottleneck.conv.weight.shape  # concat of the 2 branches → 3×3 conv
        torch.Size([4, 8, 3, 3])
    """

    def __init__(self, cin: int, channels: int, dilations: Sequence[int] = (1, 6, 12, 18)) -> None:
        super().__init__()
        self.aspp_modules = nn.ModuleList(
            ConvBNReLU(cin, channels, 1) if d == 1 else SeparableConvBNReLU(cin, channels, 3, d)
            for d in dilations
        )
        self.bottleneck = ConvBNReLU(len(dilations) * channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(torch.cat([m(x) for m in self.aspp_modules], dim=1))
