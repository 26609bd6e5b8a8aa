"""conf/data real-data configs compose and build datasets / transforms on fixture trees."""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import open_dict

from flexseg.data.transforms import EvalResize, GeneratedTransform, TrainTransform, eval_size
from tests.data.fixtures import write_all, write_tree

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
    trees = write_all(root)
    write_tree("generated", root / "dginstyle", size=(512, 512))  # DGInStyle's size (overwrites the tiny set)
    # the DAFormer setting reads the rare-class subset list (name,class), here two of the three frames
    (root / "gta" / "gta6000_rcs1e-2.txt").write_text("# test subset\n00001,5\n00003,13\n")
    assert len(trees["gta"].expected) == 3
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
    assert len(gta) == 2 and len(gen) == 2   # the subset list: frames 1 and 3
    assert [Path(p).name for p in gta.image_paths] == ["00001.png", "00003.png"]
    assert gta[0]["sampled_class"] == 5 and gta[1]["sampled_class"] == 13
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
    assert len(dm.train_set) == 4 and dm.domains == TARGETS
    sample = dm.train_set[(3, 123)]          # (global index, augmentation seed)
    assert sample["index"] == 3 and sample["domain"] == "generated"
    assert sample["image"].shape == (3, 512, 512)
    assert dm.rcs is None                    # DAFormer setting: no rare-class sampling


def test_hrda_mix_resizes_generated_to_the_crop(data_dir):
    """HRDA: generated 512² images are resized to the 1024² crop, so mixed batches stack."""
    from flexseg.build import build_datamodule
    from flexseg.data.prepare import class_stats
    from flexseg.data.rcs import STATS_FILE

    class_stats("gta", data_dir / "gta", "all")
    cfg = data_cfg("gta_dginstyle_hrda", data_dir, ["data.num_generated=2", "data.num_workers=0",
                                                    "data.rcs.min_pixels=10"])
    assert (data_dir / "gta" / STATS_FILE).is_file()
    dm = build_datamodule(cfg)
    assert len(dm.train_set) == 5 and dm.rcs is not None and dm.rcs.sampler.min_crop_ratio == 2.0
    gen = dm.train_set[(4, 7)]
    assert gen["image"].shape == (3, 1024, 1024) and gen["label"].shape == (1024, 1024)
    for batch in dm.train_dataloader():       # one epoch: mixed batches included, GTA first or second
        assert batch["image"].shape == (2, 3, 1024, 1024)


def test_mix_of_unstackable_sizes_fails_early(data_dir):
    from flexseg.build import build_datamodule

    cfg = data_cfg("gta_dginstyle_hrda", data_dir, ["data.num_generated=2", "data.num_workers=0",
                                                    "data.train_transforms.generated.resize=null",
                                                    "data.rcs.enabled=false"])
    with pytest.raises(Exception, match=r"gta: 1024×1024.*generated: 512×512"):
        build_datamodule(cfg)


def test_too_few_generated_images_message(data_dir):
    from flexseg.build import build_datamodule

    cfg = data_cfg("gta_dginstyle", data_dir, ["data.num_workers=0"])   # num_generated 10000 > 4 images
    with pytest.raises(Exception, match=r"num_images=10000 but only 4 .*data.num_generated=null"):
        build_datamodule(cfg)
