"""The public API of docs/design.md §3 keeps its documented signature defaults, and they
equal the values of the composed default config (conf/train.yaml): conf/ is the one home of
every hyperparameter (docs/config.md), these defaults are a documented copy that must not drift."""
import inspect

import pytest

from flexseg.data.labels import IGNORE_INDEX
from flexseg.flex.boundaries import boundary_bands, granularity_map
from flexseg.flex.gap import PrototypeBank, gap_loss
from flexseg.flex.has import HardnessAwareSampler, sigmoid_threshold
from flexseg.flex.ube import ube_loss
from flexseg.metrics import mean_iou
from tests.integration.test_configs import compose_cfg


def _defaults(fn) -> dict:
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.fixture(scope="module")
def cfg():
    return compose_cfg()


def test_documented_defaults_are_the_config_values(cfg):
    flex = cfg.flex
    kernels = tuple(flex.kernel_sizes)
    expected = {
        boundary_bands: {"kernel_sizes": kernels, "ignore_index": IGNORE_INDEX},
        granularity_map: {"kernel_sizes": kernels, "ignore_index": IGNORE_INDEX},
        ube_loss: {"alpha": flex.ube.alpha, "eps": flex.ube.eps, "ignore_index": IGNORE_INDEX},
        gap_loss: {"tau": flex.gap.tau},
        PrototypeBank: {"num_granularities": len(kernels), "dim": flex.gap.proj_dim,
                        "momentum": flex.gap.momentum, "max_weight": flex.gap.max_weight, "init_seed": 0},
        sigmoid_threshold: {"k": flex.has.k, "midpoint": flex.has.midpoint},
        mean_iou: {"num_classes": cfg.model.num_classes, "ignore_index": IGNORE_INDEX},
    }
    for fn, values in expected.items():
        assert _defaults(fn) == values, fn.__qualname__
    has = _defaults(HardnessAwareSampler)
    for key in ("k", "midpoint", "temperature", "ema", "schedule", "draw"):
        assert has[key] == flex.has[key], f"HardnessAwareSampler {key}"


def test_documented_defaults_are_the_design_doc_values():
    """The §3 signatures as docs/design.md writes them (external tests rely on them)."""
    assert _defaults(boundary_bands) == _defaults(granularity_map) == {"kernel_sizes": (3, 5, 7), "ignore_index": 255}
    assert _defaults(ube_loss) == {"alpha": 3.0, "eps": 1e-6, "ignore_index": 255}
    assert _defaults(gap_loss) == {"tau": 0.07}
    assert _defaults(PrototypeBank) == {"num_granularities": 3, "dim": 256, "momentum": 0.99, "max_weight": 5.0,
                                        "init_seed": 0}
    assert _defaults(sigmoid_threshold) == {"k": 0.05, "midpoint": 50.0}
    has = _defaults(HardnessAwareSampler)
    assert {k: has[k] for k in ("k", "midpoint", "temperature", "ema", "schedule", "seed")} == {
        "k": 0.05, "midpoint": 50.0, "temperature": 1.0, "ema": 0.9, "schedule": "sigmoid", "seed": 0}
    assert _defaults(mean_iou) == {"num_classes": 19, "ignore_index": 255}
