"""SynthDrive is bit-exact: SHA-256 digests of the exact bytes of a fixed set of samples.

Guards restructuring of ``flexseg.data.synthdrive``: the random streams and the order of
operations must stay identical, so every field of every sample hashes to the same digest.
Each case hashes, for several indices, every field the dataset returns (tensor dtype,
shape and bytes; ``index``, ``path`` and ``domain``), and for ``generated`` also the
rendering label and the displacement field of ``render_details``.

The digests were computed on numpy 2.4 / torch 2.14 (x86-64). A numpy upgrade that changes
floating-point results (FFT, exp) in the last bit could change them without any change
in this code; then confirm with the previous commit before updating the literals.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from flexseg.data.synthdrive import SynthDrive, preview_grid, render_details, texture_bank

INDICES = (0, 1, 5)
SMALL = {"height": 50, "width": 90, "seed": 7}  # not a multiple of 4 (coarse_blur pads), other seed

# name -> (SynthDrive kwargs, expected hex digest)
CASES: dict[str, tuple[dict, str]] = {
    "source": ({"domain": "source"},
        "495cf1325c0898de8ad025ea8ede9bbe1d1cc1672b30024ad348dfb6ce981305"),
    "generated_0px": ({"domain": "generated", "misalignment_px": 0.0},
        "ab78ccc1db12931f33d2c5be5e39ca5844eb81cc4ae40ef19f3ceb17bfe7baf5"),
    "generated_default": ({"domain": "generated"},
        "fb5ccb478dce619418a8a20c2c76621d975383e7f367e9c0271b15c7fedc2f27"),
    "generated_2.5px": ({"domain": "generated", "misalignment_px": 2.5},
        "cda63c49c9d75b15ba9398b762758e8c6637dae707ddb3e1371f7c435a232487"),
    "generated_8px": ({"domain": "generated", "misalignment_px": 8.0},
        "04d8cd96db77574d9a82310d5c11e81d2865cc0c02d87959240e3380aff3a306"),
    "clear": ({"domain": "clear"},
        "e88822eecc5ee6692720fc7ef6678b3907e60e1a8db1fe465cc7a0188692f5af"),
    "fog": ({"domain": "fog"},
        "09449785e5388a82ea5db9a93228b3b0a9447f0fe4b41f2606395927a2ec900f"),
    "night": ({"domain": "night"},
        "94ded018ccccfcc613de43f41424684b400d719c512ec1deb60a0c0791e15044"),
    "rain": ({"domain": "rain"},
        "77260f8090fba222d33fe0c8ef4ee331e50547aa695bba4151d37c2facdf6af6"),
    "snow": ({"domain": "snow"},
        "25fc22d60c559645a4d5bf9c2b8024c1f4406655c4422e6980479200dbbb1a67"),
    "small_source": ({"domain": "source", **SMALL},
        "f081e92827f54de1b8027fba1016f1ef820ebb2c46d62607e07342ba647333f8"),
    "small_generated_0px": ({"domain": "generated", "misalignment_px": 0.0, **SMALL},
        "30068c03a6e207af308f71810866baafa0dced65c30d778deaf69cbb5e68dc91"),
    "small_generated_default": ({"domain": "generated", **SMALL},
        "7f73c9b047f1c7720a6fc158422ffec2cd042ce2c7b4cfd46d5a07b5b1bd9c39"),
    "small_generated_6px": ({"domain": "generated", "misalignment_px": 6.0, **SMALL},
        "9a12bc762c925ddc04a6b09c79043e8e8d45da53981fdef7b93d9f96b80eacfd"),
    "small_clear": ({"domain": "clear", **SMALL},
        "fba21c4519b316e7e43274734e57811fbd833df9559e9b3913204b48c6ae3090"),
    "small_fog": ({"domain": "fog", **SMALL},
        "229c8caf2f17323f8edd469a2fa541f6ad0e6eff7e73063106c574ec948cd8bf"),
    "small_night": ({"domain": "night", **SMALL},
        "d503c1ab26b88b435ffd51d192638752851084141027cbae4d82af3d741ef575"),
    "small_rain": ({"domain": "rain", **SMALL},
        "cef6169b751976f6e76a2fc59f14004169d3927073b33b768375ca22519c14df"),
    "small_snow": ({"domain": "snow", **SMALL},
        "a99c5287c6da9baf0c1801e76c238831cd0096ceede220d4a3ed28e2692c7dd6"),
}
TEXTURE_BANK = "09868a02ab672b420ce09991949fa9bcb71c75bbeeb50f1c51984c8646a033ea"
PREVIEW = "f1b57f2f844cd0b468c818cb39c435e6d5ef7b826e574b7392631e0dce9d1cb1"


def _update(h: hashlib._Hash, key: str, value: object) -> None:
    h.update(key.encode() + b"=")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().contiguous()
        h.update(f"tensor {value.dtype} {tuple(value.shape)}:".encode())
        h.update(value.numpy().tobytes())
    elif isinstance(value, np.ndarray):
        value = np.ascontiguousarray(value)
        h.update(f"ndarray {value.dtype} {value.shape}:".encode())
        h.update(value.tobytes())
    elif isinstance(value, (bool, int, str)):
        h.update(f"{type(value).__name__} {value!r}".encode())
    else:
        raise TypeError(f"unhashed field {key}: {type(value).__name__}")
    h.update(b";")


def case_digest(kwargs: dict) -> str:
    ds = SynthDrive(num_images=max(INDICES) + 1, cache=False, **kwargs)
    h = hashlib.sha256()
    for i in INDICES:
        sample = ds[i]
        for key in sorted(sample):
            _update(h, f"{i}/{key}", sample[key])
        if ds.domain == "generated":
            r = render_details(ds.seed, ds.domain, i, ds.height, ds.width, ds.misalignment_px)
            for key in ("image", "label", "render_label", "displacement"):
                _update(h, f"{i}/details/{key}", getattr(r, key))
    return h.hexdigest()


def array_digest(arr: np.ndarray) -> str:
    h = hashlib.sha256()
    _update(h, "array", arr)
    return h.hexdigest()


@pytest.mark.parametrize("name", list(CASES))
def test_samples_are_bit_exact(name):
    kwargs, expected = CASES[name]
    assert case_digest(kwargs) == expected


def test_texture_bank_is_bit_exact():
    assert array_digest(texture_bank()) == TEXTURE_BANK


def test_preview_grid_is_bit_exact():
    assert array_digest(preview_grid(num=1, seed=3, misalignment_px=3.0, height=32, width=64)) == PREVIEW


def test_digest_sees_a_one_bit_change():
    kwargs = CASES["source"][0]
    ds = SynthDrive(num_images=1, cache=False, **kwargs)
    sample = ds[0]
    a, b = hashlib.sha256(), hashlib.sha256()
    _update(a, "image", sample["image"])
    flipped = sample["image"].clone()
    flipped.view(-1)[123] ^= 1
    _update(b, "image", flipped)
    assert a.hexdigest() != b.hexdigest()
