"""Segmentation networks.

Every network follows :class:`~flexseg.models.base.SegNetwork`: ``net(images [B,3,H,W])``
(normalized float) → :class:`~flexseg.models.base.SegOutput` (``logits`` [B,K,H/4,W/4],
``features`` [B,D,h,w] for GAP, optional ``features_box``, ``logits_weight``, ``aux``,
``fd``, ``hallucinated``); ``inference(images)`` → logits [B,K,H,W] at the input
resolution; ``head_parameters()``; ``num_classes`` = K; ``feature_dim`` = D.

Files: ``base.py`` (the contract), ``layers/`` (shared blocks), ``daformer.py`` and
``hrda.py`` (the networks), ``encoders.py`` (MiT), ``regularizers.py`` /
``feature_distance.py`` / ``shade.py`` (reference-recipe regularizers), ``weights.py``
(checkpoints). docs/models.md
"""
from flexseg.models.base import SegNetwork, SegNetworkBase, SegOutput, check_output

__all__ = ["SegNetwork", "SegNetworkBase", "SegOutput", "check_output"]
