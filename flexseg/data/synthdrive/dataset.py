"""``SynthDrive``: the embedded benchmark as a map-style dataset (``conf/data/synthdrive.yaml``)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from flexseg.data.synthdrive.render import DOMAINS, check_args, render_scene

__all__ = ["SynthDrive"]

class SynthDrive(Dataset):
    """The embedded benchmark as a map-style dataset of ``num_images`` samples.

    Samples are dicts ``{"image": uint8 [3,H,W], "label": int64 [H,W], "index": i,
    "path": "synthdrive://{domain}/{seed}/{i}", "domain": domain}``. With ``cache`` the
    rendered arrays are kept in memory (≈ 4·H·W bytes per sample).

    Args:
        domain: one of ``ALL_DOMAINS`` (``DOMAINS`` and the adverse ``fog_dense``,
            ``night_dark``, ``rain_lens``, ``snow_storm``).
        num_images: number of samples (≥ 1).
        height: image height, px.
        width: image width, px.
        seed: the dataset seed (sample ``i`` depends only on ``(seed, domain, i)``).
        misalignment_px: peak image↔mask displacement of ``generated``, px (≥ 0).
        cache: keep rendered samples in memory.

    Raises:
        ValueError: for an unknown domain, a non-positive size or ``num_images``, or a
            negative or NaN misalignment.

    Example:
        >>> ds = SynthDrive("night", num_images=3, height=32, width=64, seed=5)
        >>> sample = ds[-1]
        >>> len(ds), sample["image"].shape, sample["image"].dtype, sample["label"].dtype
        (3, torch.Size([3, 32, 64]), torch.uint8, torch.int64)
        >>> sample["index"], sample["path"], sample["domain"]
        (2, 'synthdrive://night/5/2', 'night')
    """

    DOMAINS = DOMAINS

    def __init__(self, domain: str, num_images: int = 1000, height: int = 128, width: int = 256,
                 seed: int = 0, misalignment_px: float = 4.0, cache: bool = True) -> None:
        check_args(domain, height, width, misalignment_px)
        if int(num_images) < 1:
            raise ValueError(f"synthdrive: num_images must be ≥ 1, got {num_images}")
        self.domain, self.num_images = domain, int(num_images)
        self.height, self.width, self.seed = int(height), int(width), int(seed)
        self.misalignment_px = float(misalignment_px)
        self.cache = cache
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.num_images

    def arrays(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image [H,W,3] uint8 and label [H,W] uint8 of sample ``i`` (cached when ``cache``)."""
        if i in self._cache:
            return self._cache[i]
        image, label = render_scene(self.seed, self.domain, i, self.height, self.width, self.misalignment_px)
        out = (image, label.astype(np.uint8))
        if self.cache:
            self._cache[i] = out
        return out

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if i < 0:
            i += self.num_images
        if not 0 <= i < self.num_images:
            raise IndexError(f"synthdrive index {i} out of range for {self.num_images} images")
        image, label = self.arrays(i)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "label": torch.from_numpy(label.astype(np.int64)),
            "index": i,
            "path": f"synthdrive://{self.domain}/{self.seed}/{i}",
            "domain": self.domain,
        }
