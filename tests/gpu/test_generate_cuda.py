"""flexseg.generate on CUDA (skipped without CUDA; ``bash experiments/gpu_check.sh`` runs the
``gpu`` tests): the sampler with tiny random components is deterministic on the GPU, stays
close to the CPU result in fp32 (the noise is drawn on the CPU), and runs in fp16."""
import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from flexseg.generation.models import load_components
from flexseg.generation.sampler import SamplerConfig, generate_image
from tests.generation.tiny_models import write_tiny_models

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _label() -> np.ndarray:
    lab = np.zeros((64, 64), np.uint8)
    lab[:20] = 10
    lab[40:, 8:40] = 13
    lab[-4:] = 255
    return lab


@pytest.mark.parametrize("fusion", [False, True])
def test_cuda_sampler_deterministic_close_to_cpu_and_fp16(tmp_path, fusion):
    m = write_tiny_models(tmp_path)
    cfg = SamplerConfig(steps=2, fusion=fusion, min_component_area=200)
    cpu = load_components(m["base"], m["controlnet"], None, torch.device("cpu"))
    gpu = load_components(m["base"], m["controlnet"], None, torch.device("cuda"))
    half = load_components(m["base"], m["controlnet"], None, torch.device("cuda"), torch.float16)
    a = generate_image(gpu, _label(), "road car sky", 11, cfg)
    b = generate_image(gpu, _label(), "road car sky", 11, cfg)
    c = generate_image(cpu, _label(), "road car sky", 11, cfg)
    h = generate_image(half, _label(), "road car sky", 11, cfg)
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).max() <= 3
    assert h.shape == (64, 64, 3) and np.abs(h.astype(int) - c.astype(int)).mean() < 4
