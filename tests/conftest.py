import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HYDRA_FULL_ERROR", "1")


@pytest.fixture(autouse=True)
def _limit_threads():
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield
