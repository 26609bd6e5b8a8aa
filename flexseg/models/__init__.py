"""Segmentation networks. Every network maps images [B,3,H,W] (normalized float) to
``{"logits": [B,C,H/4,W/4], "features": [B,256,H/4,W/4]}`` and offers
``inference(images) -> logits [B,C,H,W]`` at the input resolution."""
