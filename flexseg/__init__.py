"""FlexSeg: domain-generalized semantic segmentation with FLEX-Seg (GAP, UBE, HAS)."""

__version__ = "0.1.0"
