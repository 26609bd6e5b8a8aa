"""Building blocks shared by the networks of :mod:`flexseg.models` (one concept per file,
mmseg attribute names so that published checkpoints load 1:1):

* :mod:`~flexseg.models.layers.conv`: ``ConvBNReLU``, ``SeparableConvBNReLU``, ``LinearEmbed``
* :mod:`~flexseg.models.layers.aspp`: ``ASPPFusion`` (DAFormer's context fusion)
* :mod:`~flexseg.models.layers.decode_head`: ``DAFormerHead``, ``init_head`` / ``reference_init_``
* :mod:`~flexseg.models.layers.slide`: sliding-window inference and input padding
"""
from flexseg.models.layers.aspp import ASPPFusion
from flexseg.models.layers.conv import ConvBNReLU, LinearEmbed, SeparableConvBNReLU
from flexseg.models.layers.decode_head import HEAD_INITS, DAFormerHead, init_head, reference_init_
from flexseg.models.layers.slide import as_pair, pad_to_min_size, pad_to_multiple, slide_boxes, slide_inference

__all__ = [
    "HEAD_INITS",
    "ASPPFusion",
    "ConvBNReLU",
    "DAFormerHead",
    "LinearEmbed",
    "SeparableConvBNReLU",
    "as_pair",
    "init_head",
    "pad_to_min_size",
    "pad_to_multiple",
    "reference_init_",
    "slide_boxes",
    "slide_inference",
]
