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


# ------------------------------------------------ the foundation-model recipes (docs/vfm.md)
def test_gta_vfm_and_its_dginstyle_mix(data_dir):
    """Every GTA frame (not the DAFormer subset) with the Rein family's short-side draw; the
    generated set as in gta_dginstyle."""
    from flexseg.build import build_datamodule

    cfg = data_cfg("gta_vfm", data_dir, ["data.num_workers=0"])
    assert list(cfg.data.train_sets) == ["gta"] and list(cfg.data.targets) == TARGETS
    t_gta = instantiate(cfg.data.train_transforms.gta, _convert_="object")
    assert t_gta.resize is None and t_gta.short_sides == tuple(int(512 * x * 0.1) for x in range(5, 21))
    assert t_gta.max_size == 2048 and t_gta.crop_size == (512, 512) and t_gta.min_class_pixels is None
    dm = build_datamodule(cfg)
    assert len(dm.train_set) == 3 and dm.rcs is None   # all three frames
    assert dm.train_set[(1, 5)]["image"].shape == (3, 512, 512)

    mix = data_cfg("gta_dginstyle_vfm", data_dir, ["data.num_generated=2", "data.num_workers=0"])
    assert list(mix.data.train_sets) == ["gta", "generated"]
    assert mix.data.train_sets.gta == cfg.data.train_sets.gta and mix.data.train_transforms.gta == cfg.data.train_transforms.gta
    assert mix.data.train_transforms.generated == data_cfg("gta_dginstyle", data_dir).data.train_transforms.generated
    dm = build_datamodule(mix)
    assert len(dm.train_set) == 5 and dm.rcs is None
    assert dm.train_set[(4, 7)]["image"].shape == (3, 512, 512)


def test_real_targets_rein_protocol(data_dir):
    """BDD100K fit (1280, 720); Mapillary halved (labels too) with the Rein table, then fit
    (1024, 512); Cityscapes, ACDC, Dark Zurich as the paper protocol."""
    from flexseg.data.transforms import OfflineResize

    cfg = data_cfg("real_targets_rein", data_dir)
    paper = data_cfg("real_targets", data_dir)
    assert list(cfg.data.targets) == TARGETS
    for domain in ("acdc", "dark_zurich", "cityscapes"):
        assert cfg.data.target_transforms[domain] == paper.data.target_transforms[domain]
        assert cfg.data.targets[domain] == paper.data.targets[domain]
    assert list(cfg.data.target_transforms.bdd100k.fit) == [1280, 720]
    assert cfg.data.targets.mapillary.label_table == "rein"
    mv = instantiate(cfg.data.targets.mapillary, _convert_="object")
    transform = instantiate(cfg.data.target_transforms.mapillary, _convert_="object")
    assert isinstance(transform.before, OfflineResize) and transform.before.scale == 0.5
    s = mv[0]
    out = transform(s)
    h, w = s["label"].shape
    assert tuple(out["label"].shape) == (h // 2, w // 2)
    assert tuple(out["image"].shape[1:]) == eval_size(h // 2, w // 2, (1024, 512))


def test_mapillary_rein_label_table(tmp_path):
    """label_table=rein maps 11 ids differently from DAFormer's table (crosswalks, parking,
    bike / service lanes → road, manhole → 255, …) and ignores DAFormer-table caches."""
    import numpy as np
    from PIL import Image

    from flexseg.data.datasets import build
    from flexseg.data.labels import MAPILLARY_TO_TRAINID, MAPILLARY_TO_TRAINID_REIN

    root = tmp_path / "mapillary"
    (root / "validation" / "images").mkdir(parents=True)
    (root / "validation" / "v1.2" / "labels").mkdir(parents=True)
    ids = np.arange(66, dtype=np.uint8).reshape(6, 11)
    Image.fromarray(np.zeros((6, 11, 3), np.uint8)).save(root / "validation" / "images" / "a.jpg")
    Image.fromarray(ids).save(root / "validation" / "v1.2" / "labels" / "a.png")
    daformer = build("mapillary", root)[0]["label"].flatten().tolist()
    assert daformer == [MAPILLARY_TO_TRAINID.get(i, 255) for i in range(66)]
    Image.fromarray(np.zeros((6, 11), np.uint8)).save(root / "validation" / "v1.2" / "labels" / "a_labelTrainIds.png")
    rein = build("mapillary", root, label_table="rein")
    assert len(rein) == 1
    got = rein[0]["label"].flatten().tolist()
    assert got == [MAPILLARY_TO_TRAINID_REIN.get(i, 255) for i in range(66)]
    assert [i for i in range(66) if got[i] != daformer[i]] == [7, 8, 9, 10, 11, 14, 23, 41, 44, 46, 49]
    with pytest.raises(ValueError, match="label_table"):
        build("mapillary", root, label_table="mmseg")


#: Mapillary Vistas v1.2 "readable" class names (config_v1.2.json), index = label id
MAPILLARY_V12_READABLE = [
    "Bird", "Ground Animal", "Curb", "Fence", "Guard Rail", "Barrier", "Wall", "Bike Lane", "Crosswalk - Plain",
    "Curb Cut", "Parking", "Pedestrian Area", "Rail Track", "Road", "Service Lane", "Sidewalk", "Bridge", "Building",
    "Tunnel", "Person", "Bicyclist", "Motorcyclist", "Other Rider", "Lane Marking - Crosswalk",
    "Lane Marking - General", "Mountain", "Sand", "Sky", "Snow", "Terrain", "Vegetation", "Water", "Banner", "Bench",
    "Bike Rack", "Billboard", "Catch Basin", "CCTV Camera", "Fire Hydrant", "Junction Box", "Mailbox", "Manhole",
    "Phone Booth", "Pothole", "Street Light", "Pole", "Traffic Sign Frame", "Utility Pole", "Traffic Light",
    "Traffic Sign (Back)", "Traffic Sign (Front)", "Trash Can", "Bicycle", "Boat", "Bus", "Car", "Caravan",
    "Motorcycle", "On Rails", "Other Vehicle", "Trailer", "Truck", "Wheeled Slow", "Car Mount", "Ego Vehicle",
    "Unlabeled",
]


def test_rein_table_follows_their_name_rule():
    """MAPILLARY_TO_TRAINID_REIN = the rule documented in flexseg/data/labels.py applied to the
    v1.2 readable names (the rule of Rein's mapillary2cityscape.py --train_id)."""
    from flexseg.data.labels import CLASS_NAMES as CITYSCAPES_NAMES
    from flexseg.data.labels import MAPILLARY_TO_TRAINID_REIN

    exact = {n.replace(" ", ""): i for i, n in enumerate(CITYSCAPES_NAMES)}
    rules = [(("trafficsign", "front", "back"), exact["trafficsign"]), (("onrail",), exact["train"]),
             (("cyclist", "rider"), exact["rider"]), (("pole", "streetlight"), exact["pole"]),
             (("curb", "pedestrianarea"), exact["sidewalk"]),
             (("crosswalkplain", "parking", "bikelane", "servicelane", "lanemarking"), exact["road"])]
    table = {}
    for i, readable in enumerate(MAPILLARY_V12_READABLE):
        name = readable.lower().replace(" ", "").replace("-", "")
        if name in exact:
            table[i] = exact[name]
            continue
        for keys, train_id in rules:
            if any(k in name for k in keys):
                table[i] = train_id
                break
    assert table == MAPILLARY_TO_TRAINID_REIN
