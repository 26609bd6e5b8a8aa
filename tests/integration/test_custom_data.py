"""data=custom: own class file and folders → train, eval (ckpt_path only), predict colours."""
import json

import numpy as np
import pytest
from omegaconf import open_dict
from PIL import Image

from tests.integration.test_configs import compose_cfg

COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]
NAMES = ["floor", "wall", "table", "chair", "window"]


def write_folder(root, n, seed, size=(40, 56)):
    """n images of coloured rectangles, one class each, and their train-id labels."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for k in range(n):
        lab = np.zeros(size, np.uint8)
        for c in range(1, 5):
            y, x = rng.integers(0, size[0] - 12), rng.integers(0, size[1] - 14)
            lab[y:y + 12, x:x + 14] = c
        lab[:2, :2] = 255
        img = np.asarray(COLORS, np.uint8)[np.minimum(lab, 4)]
        Image.fromarray(img).save(root / "images" / f"f{k}.{'jpg' if k == 0 else 'png'}")
        Image.fromarray(lab).save(root / "labels" / f"f{k}.png")
    return root


@pytest.fixture
def custom(tmp_path):
    classes = tmp_path / "classes.yaml"
    classes.write_text("".join(f"- {{name: {n}, color: [{c[0]}, {c[1]}, {c[2]}]}}\n" for n, c in zip(NAMES, COLORS)))
    return {"classes": classes, "source": write_folder(tmp_path / "src", 4, 0),
            "targets": [write_folder(tmp_path / "indoor", 2, 1), write_folder(tmp_path / "satellite", 2, 2)]}


def custom_overrides(custom):
    targets = ",".join(str(t) for t in custom["targets"])
    return ["data=custom", f"data.classes={custom['classes']}", f"data.source={custom['source']}",
            f"data.targets=[{targets}]", "data.crop_size=[32,32]", "data.num_workers=0", "data.batch_size=2"]


# ------------------------------------------------------------------ class file
@pytest.mark.parametrize("text, message", [
    ("name: a\n", "non-empty YAML list"),
    ("- {name: a, color: [1, 2]}\n", r"color must be \[R, G, B\]"),
    ("- {name: a, color: [1, 2, 300]}\n", r"color must be \[R, G, B\]"),
    ("- {name: a}\n", "exactly the keys name and color"),
    ("- {name: a, color: [1, 2, 3]}\n- {name: a, color: [4, 5, 6]}\n", "repeated: a"),
])
def test_bad_class_file_names_the_file(tmp_path, text, message):
    from flexseg.data.classes import ClassFileError, load_classes

    path = tmp_path / "cls.yaml"
    path.write_text(text)
    with pytest.raises(ClassFileError, match=message) as err:
        load_classes(path)
    assert str(path) in str(err.value)


def test_class_file_read_in_train_id_order(custom):
    from flexseg.data.classes import load_classes

    classes = load_classes(custom["classes"])
    assert classes.names == tuple(NAMES) and classes.colors == tuple(COLORS) and len(classes) == 5


def test_colorize_uses_the_class_colours():
    from flexseg.data.labels import PALETTE, colorize

    label = np.array([[0, 4, 255]], np.uint8)
    assert colorize(label, COLORS).tolist() == [[list(COLORS[0]), list(COLORS[4]), [0, 0, 0]]]
    assert colorize(label).tolist()[0][1] == list(PALETTE[4])  # default: Cityscapes


# ------------------------------------------------------------------ folder checks
def test_label_value_outside_the_classes_names_the_file(custom):
    from flexseg.data.custom import build_folder
    from flexseg.data.datasets import LabelError

    bad = custom["targets"][0] / "labels" / "f1.png"
    lab = np.array(Image.open(bad))
    lab[5, 5] = 5  # a sixth class
    Image.fromarray(lab).save(bad)
    ds = build_folder(custom["targets"][0], 5)
    ds[0]  # f0 is fine
    with pytest.raises(LabelError, match="5") as err:
        ds[1]
    assert str(bad) in str(err.value)


def test_unpaired_and_missized_files_are_errors(custom):
    from flexseg.data.custom import build_folder
    from flexseg.data.datasets import LabelError, PairingError

    src = custom["source"]
    Image.fromarray(np.zeros((40, 57), np.uint8)).save(src / "labels" / "f2.png")
    with pytest.raises(LabelError, match="label size 57x40 differs") as err:
        build_folder(src, 5)
    assert str(src / "labels" / "f2.png") in str(err.value)
    (src / "labels" / "f3.png").unlink()
    with pytest.raises(PairingError, match="f3"):
        build_folder(src, 5)
    with pytest.raises(FileNotFoundError, match="labels/<name>.png"):
        build_folder(src.parent / "nowhere", 5)


def test_class_count_reaches_head_gap_and_metrics(custom):
    from flexseg.build import build_module

    cfg = compose_cfg(custom_overrides(custom))
    assert cfg.model.num_classes == 5 and list(cfg.data.class_names) == NAMES
    module = build_module(cfg)
    assert module.net.decode_head.conv_seg.out_channels == 5
    assert module.criterion.bank.prototypes.shape[0] == 5
    assert module.class_names == tuple(NAMES)
    with open_dict(cfg):
        cfg.model.num_classes = 19
    with pytest.raises(ValueError, match="model.num_classes=19 but the data has 5 classes"):
        build_module(cfg)


def test_duplicate_domain_names_are_an_error(custom, tmp_path):
    from flexseg.data.custom import domain_names

    other = tmp_path / "x" / "indoor"
    with pytest.raises(ValueError, match="indoor occurs twice"):
        domain_names([custom["targets"][0], other])


# ------------------------------------------------------------------ end to end
def test_train_eval_predict_five_classes(custom, tmp_path):
    from flexseg.eval import evaluate
    from flexseg.predict import predict
    from flexseg.train import train
    from flexseg.utils.ckpt_config import apply_checkpoint_config

    cfg = compose_cfg([*custom_overrides(custom), "trainer=debug", "trainer.limit_test_batches=null",
                       "logger=csv", "flex.gap.max_pixels=256"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "train")
    trained = train(cfg)
    saved = json.loads((tmp_path / "train" / "results.json").read_text())
    assert set(saved["miou"]) == {"indoor", "satellite"}
    assert list(saved["iou"]["indoor"]) == NAMES
    assert "window" in (tmp_path / "train" / "results.md").read_text()

    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"
    ecfg = compose_cfg([f"ckpt_path={ckpt}"], name="eval")  # data=synthdrive: the checkpoint's data wins
    with open_dict(ecfg):
        ecfg.paths.output_dir = str(tmp_path / "eval")
    apply_checkpoint_config(ecfg, overrides=[f"ckpt_path={ckpt}"])
    summary = evaluate(ecfg)
    for domain, value in trained["miou"].items():
        assert summary["miou"][domain] == pytest.approx(value, abs=1e-9)

    overrides = [f"ckpt_path={ckpt}", f"input={custom['targets'][0] / 'images'}", f"output={tmp_path / 'pred'}",
                 "write_trainid=true", "device=cpu", "progress=false"]
    pcfg = compose_cfg(overrides, name="predict")
    apply_checkpoint_config(pcfg, overrides=overrides, groups=("data", "model"))
    predict(pcfg)
    ids = np.array(Image.open(tmp_path / "pred" / "f1_trainid.png"))
    mask = np.array(Image.open(tmp_path / "pred" / "f1_mask.png"))
    assert ids.shape == (40, 56) and ids.max() < 5
    assert (mask == np.asarray(COLORS, np.uint8)[ids]).all()  # the class file's colours


def test_wandb_masks_use_the_class_count_and_names():
    from flexseg.callbacks import mask_ids, mask_labels

    assert mask_ids(np.array([[0, 4, 255]]), 5).tolist() == [[0, 4, 5]]
    assert mask_labels(NAMES) == {**dict(enumerate(NAMES)), 5: "ignore"}
    assert mask_ids(np.array([[18, 255]])).tolist() == [[18, 19]]  # default: 19 Cityscapes classes
