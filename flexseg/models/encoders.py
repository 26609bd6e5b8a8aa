"""Hierarchical encoders (MiT-B0…B5) from segmentation-models-pytorch, random init.

Pretrained weights are never downloaded: load a local file with
:func:`flexseg.models.weights.load_pretrained_encoder`.
"""
from __future__ import annotations

import torch
from torch import nn

MIT_NAMES = ("mit_b0", "mit_b1", "mit_b2", "mit_b3", "mit_b4", "mit_b5")


class MiTEncoder(nn.Module):
    """A Mix Transformer (segmentation-models-pytorch's, random init) returning its four
    stage maps (strides 4, 8, 16, 32).

    The state-dict keys of ``self.mit`` are those of the public SegFormer ImageNet
    checkpoints (``patch_embed1.proj.weight``, ``block1.0.attn.q.weight``, …).

    Args:
        name: ``mit_b0`` … ``mit_b5``.

    Raises:
        ValueError: an unknown name.

    Shape:
        - Input: :math:`(B, 3, H, W)`, H and W ≥ 32
        - Output: list of (B, C_s, ⌈H/s⌉, ⌈W/s⌉) for
          s = 4, 8, 16, 32, C_s = ``out_channels`` (2B with SHADE in training mode)

    Example:
        >>> enc = MiTEncoder("mit_b0")
        >>> enc.out_channels
        (32, 64, 160, 256)
        >>> [tuple(f.shape) for f in enc(torch.randn(1, 3, 64, 96))]
        [(1, 32, 16, 24), (1, 64, 8, 12), (1, 160, 4, 6), (1, 256, 2, 3)]
    """

    def __init__(self, name: str = "mit_b0") -> None:
        super().__init__()
        if name not in MIT_NAMES:
            raise ValueError(f"unknown encoder {name!r}; choose one of {MIT_NAMES}")
        import segmentation_models_pytorch as smp

        self.name = name
        self.mit = smp.encoders.get_encoder(name, in_channels=3, depth=5, weights=None)
        self.out_channels: tuple[int, ...] = tuple(self.mit.out_channels[2:])
        #: input sizes must be multiples of this at training time (padded at inference)
        self.output_stride: int = 32

        #: SHADE style hallucination after stage 1 (training only), see enable_style_hallucination
        self.style_hallucination: nn.Module | None = None

    def enable_style_hallucination(self, num_styles: int | None, concentration: float, seed: int,
                                   style_dim: int | None = None) -> None:
        """Attach SHADE (flexseg.models.shade) after stage 1 (the reference's place in
        DGInStyle's MiT). ``style_dim`` must be the stage-1 width when given."""
        from flexseg.models.shade import StyleHallucination

        width = self.out_channels[0]
        if style_dim is not None and int(style_dim) != width:
            raise ValueError(f"SHADE style_dim {style_dim} must equal the stage-1 width of {self.name} ({width})")
        self.style_hallucination = StyleHallucination(width, num_styles, concentration, seed)

    def stage1(self, images: torch.Tensor) -> torch.Tensor:
        """Stage-1 map [B,C_1,H/4,W/4] (SHADE's style features)."""
        m = self.mit
        return m.norm1(m.block1(m.patch_embed1(images))).contiguous()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """images [B,3,H,W] → four maps [B,C_s,H/s,W/s] for s = 4, 8, 16, 32; with SHADE in
        training mode the batch doubles after stage 1: [originals; hallucinated] (2B)."""
        if self.style_hallucination is None or not self.training:
            return list(self.mit(images)[2:])
        m = self.mit
        x = self.style_hallucination(self.stage1(images))
        outs = [x]
        for embed, block, norm in ((m.patch_embed2, m.block2, m.norm2), (m.patch_embed3, m.block3, m.norm3),
                                   (m.patch_embed4, m.block4, m.norm4)):
            x = norm(block(embed(x))).contiguous()
            outs.append(x)
        return outs

    # SegFormer checkpoint names: strip the inner ``mit.`` prefix so that a plain
    # ``mit_b5.pth`` loads into ``encoder.mit``.
    def load_segformer_state_dict(self, state_dict: dict[str, torch.Tensor], strict: bool = True):
        """Load SegFormer-named weights into ``self.mit`` (``head.*`` ignored).

        For checked loading with a readable report use
        :func:`flexseg.models.weights.load_pretrained_encoder`.
        """
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("head.")}
        # smp overrides ``load_state_dict`` without ``strict``; call nn.Module's directly
        return nn.Module.load_state_dict(self.mit, state_dict, strict=strict)

    def segformer_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights under the SegFormer ImageNet checkpoint names (``patch_embed1.proj.weight``, …)."""
        return nn.Module.state_dict(self.mit)


def build_encoder(name: str) -> MiTEncoder:
    """Encoder by name (``mit_b0`` … ``mit_b5``, :data:`MIT_NAMES`), randomly initialized.

    Example:
        >>> build_encoder("mit_b1").out_channels
        (64, 128, 320, 512)
    """
    return MiTEncoder(name)
