"""The random streams of one sample: sample ``i`` is a function of ``(seed, domain, i)`` only.

A hash of the three seeds a ``SeedSequence`` that spawns one independent numpy Generator
each for geometry, style, warp and weather, so the misalignment amplitude (warp) never
changes the scene (geometry), and samples do not depend on the order they are read in.
"""
from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["sample_seed", "sample_streams"]


def sample_seed(seed: int, domain: str, index: int) -> int:
    """A 64-bit seed that depends only on ``(seed, domain, index)``.

    The first 8 bytes (little-endian) of BLAKE2b of ``"synthdrive/{seed}/{domain}/{index}"``.

    Args:
        seed: the dataset seed.
        domain: the domain name (not checked here).
        index: the sample index.

    Returns:
        An int in ``[0, 2**64)``.

    Example:
        >>> sample_seed(0, "source", 0)
        18056141526872121801
        >>> sample_seed(0, "source", 0) == sample_seed(0, "clear", 0)
        False
    """
    digest = hashlib.blake2b(f"synthdrive/{int(seed)}/{domain}/{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def sample_streams(seed: int, domain: str, index: int) -> tuple[np.random.Generator, ...]:
    """Independent generators for (geometry, style, warp, weather) of one sample.

    Args:
        seed: the dataset seed.
        domain: the domain name.
        index: the sample index.

    Returns:
        Four ``numpy.random.Generator``: spawned children of ``SeedSequence(sample_seed(...))``.

    Example:
        >>> geometry, style, warp, weather = sample_streams(0, "source", 0)
        >>> round(float(geometry.random()), 6), round(float(weather.random()), 6)
        (0.580905, 0.883544)
    """
    children = np.random.SeedSequence(sample_seed(seed, domain, index)).spawn(4)
    return tuple(np.random.default_rng(c) for c in children)
