"""Source-domain validation (data.val_fraction / val_files) and optimized_metric."""
import pytest
from omegaconf import open_dict
from torch.utils.data import Dataset

from tests.integration.test_configs import CONF, compose_cfg
from tests.integration.test_train import TINY


class Numbered(Dataset):
    def __init__(self, n):
        self.image_paths = [f"/x/img{i}.png" for i in range(n)]

    def __len__(self):
        return len(self.image_paths)

    def __getitem__(self, i):
        return {"value": i, "index": i}


def test_split_is_disjoint_complete_and_seeded():
    from flexseg.data.holdout import split_holdout

    train, held = split_holdout(Numbered(20), 0.25, seed=0)
    t, h = [s["value"] for s in train], [s["value"] for s in held]
    assert len(h) == 5 and sorted(t + h) == list(range(20)) and not set(t) & set(h)
    assert [s["index"] for s in held] == list(range(5))  # re-indexed inside the subset
    assert held.image_paths == [f"/x/img{v}.png" for v in h]
    again = [s["value"] for s in split_holdout(Numbered(20), 0.25, seed=0)[1]]
    other = [s["value"] for s in split_holdout(Numbered(20), 0.25, seed=1)[1]]
    assert again == h and other != h


def test_split_by_file_names_and_errors():
    from flexseg.data.holdout import split_holdout

    _, held = split_holdout(Numbered(6), files=["img2.png", "img4"])
    assert [s["value"] for s in held] == [2, 4]
    with pytest.raises(ValueError, match="img9"):
        split_holdout(Numbered(6), files=["img9"])
    with pytest.raises(ValueError, match=r"val_fraction must lie in \(0, 1\)"):
        split_holdout(Numbered(6), 1.0)


def test_metric_value_paths_and_missing_key():
    from flexseg.train import metric_value

    summary = {"mean": 0.4, "val": {"mean": 0.7, "miou": {"source_val": 0.7}}}
    assert metric_value(summary, "val/mean") == 0.7 and metric_value(summary, "mean") == 0.4
    with pytest.raises(KeyError, match="val_fraction"):
        metric_value({"mean": 0.4}, "val/mean")


def test_zero_fraction_keeps_the_training_set_and_validation_loaders(tmp_path):
    from flexseg.build import build_datamodule

    dm = build_datamodule(compose_cfg([*TINY]))
    assert len(dm.train_set) == 32 and dm.heldout == {} and dm.val_domains == dm.domains


def test_train_validates_the_held_out_source_and_returns_it(tmp_path):
    from flexseg.build import build_datamodule
    from flexseg.train import train

    overrides = [*TINY, "trainer=debug", "data.val_fraction=0.25", "test=false"]
    dm = build_datamodule(compose_cfg(overrides))
    assert len(dm.train_set) == 12 + 16 and dm.val_domains == ["source_val"]
    assert len(dm.heldout["source_val"]) == 4
    cfg = compose_cfg(overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    summary = train(cfg)
    assert set(summary) == {"val"} and set(summary["val"]["miou"]) == {"source_val"}
    assert 0.0 <= summary["val"]["mean"] <= 1.0


def test_optuna_search_config_composes():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["hparams_search=flex_optuna"], return_hydra_config=True)
    assert cfg.optimized_metric == "val/mean" and cfg.data.val_fraction > 0 and cfg.test is False
    assert set(cfg.hydra.sweeper.params) == {"flex.gap.weight", "flex.gap.tau", "flex.ube.alpha"}
