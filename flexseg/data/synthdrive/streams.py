"""Streams."""
from __future__ import annotations

import hashlib

import numpy as np


def sample_seed(seed: int, domain: str, index: int) -> int:
    """A 64-bit seed that depends only on (seed, domain, index)."""
    digest = hashlib.blake2b(f"synthdrive/{int(seed)}/{domain}/{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def sample_streams(seed: int, domain: str, index: int) -> tuple[np.random.Generator, ...]:
    """Independent generators for (geometry, style, warp, weather) of one sample."""
    children = np.random.SeedSequence(sample_seed(seed, domain, index)).spawn(4)
    return tuple(np.random.default_rng(c) for c in children)
