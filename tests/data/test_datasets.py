"""Real-dataset builders on tiny trees written in every published layout."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from flexseg.data.datasets import (
    INFOS,
    LAYOUTS,
    REGISTRY,
    DatasetError,
    DatasetLayout,
    DatasetLayoutError,
    LabelConverter,
    LabelError,
    PairingError,
    UnreadableFileError,
    build,
)
from flexseg.data.labels import CLASS_NAMES, MAPILLARY_TO_TRAINID, MAPILLARY_V12_CLASS_NAMES
from tests.data.fixtures import (
    DEFAULT_SPLITS,
    MAPILLARY_ID_TO_TRAIN,
    FixtureTree,
    _pair,
    save_png,
    write_acdc,
    write_cityscapes,
    write_generated,
    write_mapillary,
    write_tree,
)

ALL = sorted(REGISTRY)


def assert_matches(ds, tree, domain):
    """Every sample follows the contract and equals the fixture pixel by pixel."""
    assert len(ds) == len(tree.expected)
    seen = set()
    for i in range(len(ds)):
        s = ds[i]
        assert set(s) >= {"image", "label", "index", "path", "domain"}
        assert s["index"] == i and s["domain"] == domain
        assert s["image"].dtype == torch.uint8 and s["image"].ndim == 3 and s["image"].shape[0] == 3
        assert s["label"].dtype == torch.int64 and s["label"].shape == s["image"].shape[1:]
        np.testing.assert_array_equal(s["label"].numpy(), tree.expected[s["path"]])
        if s["path"] in tree.images:
            np.testing.assert_array_equal(s["image"].permute(1, 2, 0).numpy(), tree.images[s["path"]])
        seen.add(s["path"])
    assert seen == set(tree.expected)


def sample_at(ds, path):
    return ds[[str(p) for p in ds.image_paths].index(path)]


# ------------------------------------------------------------------------ layouts
@pytest.mark.parametrize("name", ALL)
def test_every_layout_yields_exact_train_ids(tmp_path, name):
    tree = write_tree(name, tmp_path / name)
    ds = build(name, tree.root, DEFAULT_SPLITS[name])
    assert_matches(ds, tree, name)
    values = np.unique(np.concatenate([v.ravel() for v in tree.expected.values()]))
    assert 255 in values and len(values) >= 10  # ignored and many classes exercised


def test_split_defaults_to_the_usual_one(tmp_path):
    tree = write_cityscapes(tmp_path / "cs")
    assert len(build("cityscapes", tree.root)) == len(tree.expected)


def test_cityscapes_prefers_train_id_files(tmp_path):
    tree = write_cityscapes(tmp_path / "cs", per_city=1)
    # a labelTrainIds file next to a labelIds file, deliberately different, is used when fresh
    first = sorted(tree.expected)[0]
    label = tree.labels[first]
    trainid = label.with_name(label.name.replace("_labelIds", "_labelTrainIds"))
    marker = np.full_like(tree.expected[first], 5)
    save_png(trainid, marker)
    assert (sample_at(build("cityscapes", tree.root, "val"), first)["label"] == 5).all()
    # an older (stale) cache is ignored: the source label is converted instead
    os.utime(trainid, ns=(1, 1))
    label = sample_at(build("cityscapes", tree.root, "val"), first)["label"]
    np.testing.assert_array_equal(label.numpy(), tree.expected[first])


def test_cityscapes_with_only_train_id_labels(tmp_path):
    tree = write_cityscapes(tmp_path / "cs", label_kind="labelTrainIds")
    assert_matches(build("cityscapes", tree.root, "val"), tree, "cityscapes")


def test_acdc_conditions_and_per_condition_domains(tmp_path):
    tree = write_acdc(tmp_path / "acdc", per_condition=2)
    ds = build("acdc", tree.root, "val", conditions=["fog", "snow"])
    assert len(ds) == 4 and {s["domain"] for s in ds} == {"acdc"}
    ds = build("acdc", tree.root, "val", conditions="night", per_condition_domain=True)
    assert len(ds) == 2 and {s["domain"] for s in ds} == {"acdc/night"}
    ds = build("acdc", tree.root, "val", per_condition_domain=True)
    assert sorted({s["domain"] for s in ds}) == ["acdc/fog", "acdc/night", "acdc/rain", "acdc/snow"]
    assert all(s["domain"].split("/")[1] in s["path"] for s in ds)
    with pytest.raises(ValueError, match="fig"):
        build("acdc", tree.root, "val", conditions=["fig"])


def test_mapillary_table_matches_design_and_names():
    assert MAPILLARY_TO_TRAINID == MAPILLARY_ID_TO_TRAIN
    assert len(MAPILLARY_V12_CLASS_NAMES) == 66
    expected_names = {
        0: ["construction--flat--road", "marking--general", "object--manhole"],
        1: ["construction--barrier--curb", "construction--flat--sidewalk"],
        2: ["construction--structure--building"], 3: ["construction--barrier--wall"],
        4: ["construction--barrier--fence"], 5: ["object--support--pole", "object--support--utility-pole"],
        6: ["object--traffic-light"], 7: ["object--traffic-sign--front"], 8: ["nature--vegetation"],
        9: ["nature--terrain"], 10: ["nature--sky"], 11: ["human--person"],
        12: ["human--rider--bicyclist", "human--rider--motorcyclist", "human--rider--other-rider"],
        13: ["object--vehicle--car"], 14: ["object--vehicle--truck"], 15: ["object--vehicle--bus"],
        16: ["object--vehicle--on-rails"], 17: ["object--vehicle--motorcycle"], 18: ["object--vehicle--bicycle"],
    }
    for train_id, names in expected_names.items():
        got = sorted(MAPILLARY_V12_CLASS_NAMES[i] for i, t in MAPILLARY_TO_TRAINID.items() if t == train_id)
        assert got == sorted(names), CLASS_NAMES[train_id]


def test_mapillary_v12_only_archive_layout(tmp_path):
    tree = write_mapillary(tmp_path / "mv", labels_subdir="labels")
    assert_matches(build("mapillary", tree.root, "val"), tree, "mapillary")


def test_generated_subset_is_deterministic_and_zero_is_empty(tmp_path):
    tree = write_generated(tmp_path / "gen", n=6)
    a = [s["path"] for s in build("generated", tree.root, "train", num_images=3, seed=0)]
    b = [s["path"] for s in build("generated", tree.root, "train", num_images=3, seed=0)]
    c = [s["path"] for s in build("generated", tree.root, "train", num_images=3, seed=1)]
    assert a == b and len(a) == 3 and a != c
    assert len(build("generated", tmp_path / "absent", "train", num_images=0)) == 0
    with pytest.raises(ValueError, match="only 6"):
        build("generated", tree.root, "train", num_images=7)


def test_generated_with_cityscapes_ids_and_custom_names(tmp_path):
    tree = write_generated(tmp_path / "gen", image_dir="rgb", label_dir="masks", image_suffix="_img.png",
                           label_suffix=".png", label_encoding="ids")
    ds = build("generated", tree.root, "train", image_dir="rgb", label_dir="masks", image_suffix="_img.png",
               label_suffix=".png", label_encoding="ids")
    assert_matches(ds, tree, "generated")


def test_gta_split_file(tmp_path):
    tree = write_tree("gta", tmp_path / "gta")
    (tree.root / "val.txt").write_text("00002.png\n# comment\n00003\n")
    ds = build("gta", tree.root, "val")
    assert [os.path.basename(s["path"]) for s in ds] == ["00002.png", "00003.png"]
    with pytest.raises(DatasetLayoutError, match="test.txt"):
        build("gta", tree.root, "test")


def test_unknown_dataset_name_lists_names():
    with pytest.raises(ValueError) as e:
        build("kitti", "x", "val")
    for name in ALL:
        assert name in str(e.value)


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("name", ALL)
def test_missing_root_explains_layout_and_how_to_obtain(tmp_path, name):
    with pytest.raises(DatasetLayoutError) as e:
        build(name, tmp_path / "missing", DEFAULT_SPLITS[name])
    assert isinstance(e.value, FileNotFoundError)
    msg = str(e.value)
    assert str(tmp_path / "missing") in msg and "Expected layout" in msg and "To obtain it" in msg
    assert "http" not in msg


def test_cityscapes_message_names_the_archives(tmp_path):
    with pytest.raises(DatasetLayoutError, match="gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip"):
        build("cityscapes", tmp_path, "val")


@pytest.mark.parametrize("name,split", [("cityscapes", "train"), ("acdc", "train"), ("bdd100k", "train"),
                                        ("dark_zurich", "test"), ("mapillary", "training")])
def test_missing_split_is_a_layout_error(tmp_path, name, split):
    tree = write_tree(name, tmp_path / name)
    with pytest.raises(DatasetLayoutError, match=split):
        build(name, tree.root, split)


def test_zero_images_is_an_error(tmp_path):
    root = tmp_path / "gta"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    with pytest.raises(DatasetLayoutError, match="no image/label pairs"):
        build("gta", root, "all")


def test_image_without_label_and_label_without_image(tmp_path):
    tree = write_cityscapes(tmp_path / "cs")
    orphan_image = sorted(tree.expected)[0]
    os.remove(tree.labels[orphan_image])
    stray = tree.root / "gtFine" / "val" / "aachen" / "aachen_000099_000000_gtFine_labelIds.png"
    save_png(stray, np.zeros((16, 32), np.uint8))
    with pytest.raises(PairingError) as e:
        build("cityscapes", tree.root, "val")
    assert orphan_image in str(e.value) and str(stray) in str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    with pytest.warns(UserWarning, match="unpaired"):
        ds = build("cityscapes", tree.root, "val", strict=False)
    assert len(ds) == len(tree.expected) - 1 and len(ds.problems) == 2
    assert orphan_image not in {s["path"] for s in ds}


def test_unknown_label_ids_name_the_file(tmp_path):
    tree = write_tree("bdd100k", tmp_path / "bdd")
    first = sorted(tree.expected)[0]
    bad = tree.expected[first].copy()
    bad[0, 0] = 19
    bad[1, 1] = 200
    save_png(tree.labels[first], bad)
    ds = build("bdd100k", tree.root, "val")
    index = [str(p) for p in ds.image_paths].index(first)
    with pytest.raises(LabelError) as e:
        ds[index]
    assert str(tree.labels[first]) in str(e.value) and "19, 200" in str(e.value)
    ds = build("bdd100k", tree.root, "val", unknown_ids="ignore")
    assert ds[index]["label"][0, 0] == 255 and ds[index]["label"][1, 1] == 255


def test_mapillary_ids_above_65_are_rejected(tmp_path):
    tree = write_mapillary(tmp_path / "mv", n=1)
    (first,) = tree.expected
    raw = np.array(Image.open(tree.labels[first]))
    raw[0, 0] = 66
    save_png(tree.labels[first], raw, palette=True)
    with pytest.raises(LabelError, match="66"):
        build("mapillary", tree.root, "validation")[0]


def test_label_size_mismatch_names_the_file(tmp_path):
    tree = write_tree("dark_zurich", tmp_path / "dz")
    first = sorted(tree.expected)[0]
    save_png(tree.labels[first], np.full((9, 16), 7, np.uint8))
    ds = build("dark_zurich", tree.root, "val")
    with pytest.raises(LabelError) as e:
        ds[0]
    assert str(tree.labels[first]) in str(e.value) and "16x9" in str(e.value)


def test_gta_resizes_mismatched_labels_with_a_warning(tmp_path):
    tree = write_tree("gta", tmp_path / "gta", n=1)
    (first,) = tree.expected
    save_png(tree.labels[first], np.full((9, 16), 7, np.uint8), palette=True)
    with pytest.warns(UserWarning, match="resized"):
        sample = build("gta", tree.root, "all")[0]
    assert sample["label"].shape == sample["image"].shape[1:] and (sample["label"] == 0).all()


def test_colour_label_is_rejected(tmp_path):
    tree = write_tree("acdc", tmp_path / "acdc", conditions=("fog",))
    (first,) = tree.expected
    save_png(tree.labels[first], np.zeros((18, 32, 3), np.uint8))
    with pytest.raises(LabelError, match="single-channel"):
        build("acdc", tree.root, "val", conditions="fog")[0]


@pytest.mark.parametrize("which", ["image", "label"])
def test_corrupt_file_names_the_file(tmp_path, which):
    tree = write_tree("gta", tmp_path / "gta", n=2)
    first = sorted(tree.expected)[0]
    path = first if which == "image" else str(tree.labels[first])
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])  # truncated PNG
    ds = build("gta", tree.root, "all")
    with pytest.raises(UnreadableFileError) as e:
        ds[0]
    assert path in str(e.value) and isinstance(e.value, DatasetError)
    ds[1]  # the other sample is fine


def test_not_an_image_names_the_file(tmp_path):
    tree = write_tree("bdd100k", tmp_path / "bdd", n=1)
    (first,) = tree.expected
    open(first, "w").write("not a jpeg")
    with pytest.raises(UnreadableFileError, match=first):
        build("bdd100k", tree.root, "val")[0]


def test_infos_describe_every_dataset():
    assert set(INFOS) == set(REGISTRY)
    for info in INFOS.values():
        assert info.layout and info.obtain and info.folder and info.default_split


def test_dataloader_collates_samples(tmp_path):
    tree = write_tree("cityscapes", tmp_path / "cs")
    loader = torch.utils.data.DataLoader(build("cityscapes", tree.root, "val"), batch_size=2)
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 3, 16, 32) and batch["label"].dtype == torch.int64
    assert batch["domain"] == ["cityscapes", "cityscapes"] and batch["index"].tolist() == [0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(loader)


# ------------------------------------------------------------------ a new layout is a declaration
#: An IDD-like toy layout with its own id table (level-3 ids 0..29; 2n → train id n, odd → ignore).
TOY_IDS = {2 * t: t for t in range(15)}
TOY = DatasetLayout(
    name="toy",
    folder="toy",
    default_split="val",
    layout="  img/<split>/<seq>/<name>_img.png\n  gt/<split>/<seq>/<name>_gt_level3Ids.png",
    obtain="unpack toy.zip into <root>",
    image_dir="img/{split}",
    label_dir="gt/{split}",
    image_suffix="_img.png",
    label_suffix="_gt_level3Ids.png",
    label_encoding=LabelConverter("toy level-3", TOY_IDS, range(30)),
    recursive=True,
    label_hint="gt/<split>/<seq>/*_gt_level3Ids.png",
)


def write_toy(root, split="val"):
    tree = FixtureTree(root)
    for seq in ("s1", "s2"):
        for j in range(2):
            _pair(tree, root / "img" / split / seq / f"{seq}_{j}_img.png", root / "gt" / split / seq / f"{seq}_{j}_gt_level3Ids.png",
                  (24, 16), range(30), TOY_IDS, 7 * j + len(seq))
    return tree


def test_a_new_layout_is_one_declaration(tmp_path):
    """Adding a dataset (IDD, Synthia, a user's own published tree) = a DatasetLayout + this kind of test."""
    tree = write_toy(tmp_path / "toy")
    assert_matches(TOY.build(tree.root), tree, "toy")
    assert TOY.build(tree.root, "val", domain="idd")[0]["domain"] == "idd"
    # the same checks and messages as the published layouts
    with pytest.raises(DatasetLayoutError) as e:
        TOY.build(tmp_path / "toy", "train")
    assert str(tmp_path / "toy" / "img" / "train") in str(e.value) and "gt/<split>/<seq>/<name>_gt_level3Ids.png" in str(e.value)
    assert "To obtain it: unpack toy.zip into " + str(tmp_path / "toy") in str(e.value)
    first = sorted(tree.expected)[0]
    os.remove(tree.labels[first])
    with pytest.raises(PairingError, match=r"image without label \(expected gt/<split>/<seq>/\*_gt_level3Ids.png\)"):
        TOY.build(tree.root)
    with pytest.raises(TypeError, match="toy: unknown option"):
        TOY.build(tree.root, conditions="fog")


def test_every_dataset_is_a_declaration():
    assert {layout.name for layout in LAYOUTS} == set(REGISTRY) == set(INFOS)
    for layout in LAYOUTS:
        assert isinstance(layout, DatasetLayout) and INFOS[layout.name] is layout
        assert set(layout.options) <= {f for f in type(layout).__dataclass_fields__}, layout.name
