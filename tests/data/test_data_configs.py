"""conf/data real-data configs compose and build datasets / transforms on fixture trees."""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import open_dict

from flexseg.data.transforms import EvalResize, GeneratedTransform, TrainTransform, eval_size
from tests.data.fixtures import write_all

CONF = Path(__file__).resolve().parents[2] / "conf"
TARGETS = ["acdc", "dark_zurich", "cityscapes", "bdd100k", "mapillary"]


def data_cfg(option: str, data_dir: Path, overrides=()):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"data={option}", f"paths.data_dir={data_dir}", *overrides])
    with open_dict(cfg):
        cfg.paths.root_dir = str(CONF.parent)
    return cfg


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_all(root)
    return root


@pytest.mark.parametrize("option, fit, native", [("real_targets", (1024, 512), (960, 540)),
                                                 ("real_targets_hrda", (2048, 1024), None)])
def test_real_targets_build_every_domain(data_dir, option, fit, native):
    cfg = data_cfg(option, data_dir)
    assert list(cfg.data.targets) == TARGETS and list(cfg.data.target_transforms) == TARGETS
    assert list(cfg.data.targets.acdc.conditions) == ["fog", "night", "rain", "snow"]
    for domain in TARGETS:
        ds = instantiate(cfg.data.targets[domain], _convert_="object")
        transform = instantiate(cfg.data.target_transforms[domain], _convert_="object")
        assert isinstance(transform, EvalResize) and len(ds) > 0
        s = ds[0]
        out = transform(s)
        h, w = s["image"].shape[1:]
        if domain in ("acdc", "dark_zurich"):
            expected = (native[1], native[0]) if native else (h, w)
        else:
            expected = eval_size(h, w, fit)
        assert tuple(out["image"].shape[1:]) == expected and out["label"].shape == s["label"].shape
        assert s["domain"] == domain


def test_gta_dginstyle_train_mix(data_dir):
    cfg = data_cfg("gta_dginstyle", data_dir, ["data.num_generated=2", "seed=3"])
    assert list(cfg.data.train_sets) == ["gta", "generated"] and list(cfg.data.targets) == TARGETS
    gta = instantiate(cfg.data.train_sets.gta, _convert_="object")
    gen = instantiate(cfg.data.train_sets.generated, _convert_="object")
    assert len(gta) == 3 and len(gen) == 2
    t_gta = instantiate(cfg.data.train_transforms.gta, _convert_="object")
    t_gen = instantiate(cfg.data.train_transforms.generated, _convert_="object")
    assert isinstance(t_gta, TrainTransform) and t_gta.resize == (1280, 720) and t_gta.crop_size == (512, 512)
    assert t_gta.cat_max_ratio == 0.75 and isinstance(t_gen, GeneratedTransform)
    assert t_gta(gta[0])["image"].shape == (3, 512, 512)
    assert t_gen(gen[0])["image"].shape == gen[0]["image"].shape


def test_gta_dginstyle_datamodule_instantiates(data_dir):
    from flexseg.build import build_datamodule

    cfg = data_cfg("gta_dginstyle", data_dir, ["data.num_generated=2", "data.num_workers=0"])
    dm = build_datamodule(cfg)
    assert len(dm.train_set) == 5 and dm.domains == TARGETS
    sample = dm.train_set[(4, 123)]          # (global index, augmentation seed)
    assert sample["index"] == 4 and sample["domain"] == "generated"
    assert sample["image"].shape == (3, 16, 16)
