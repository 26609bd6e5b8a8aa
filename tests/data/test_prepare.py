"""``python -m flexseg.data.prepare``: checks, problem reports, label cache."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flexseg.data import prepare
from flexseg.data.datasets import build
from tests.data.fixtures import DEFAULT_SPLITS, save_png, write_tree

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich tables do not fold file names in the captured output


def cache_path(label: Path) -> Path:
    name = label.name
    if name.endswith("_labelIds.png"):
        return label.with_name(name.replace("_labelIds.png", "_labelTrainIds.png"))
    return label.with_name(name.removesuffix(".png") + "_labelTrainIds.png")


@pytest.mark.parametrize("name", ["cityscapes", "gta", "mapillary", "acdc", "dark_zurich"])
def test_cache_writes_exact_train_ids_and_is_idempotent(tmp_path, name, capsys):
    tree = write_tree(name, tmp_path / name)
    argv = [name, "--root", str(tree.root), "--split", DEFAULT_SPLITS[name], "--workers", "2"]
    assert prepare.main(argv) == 0
    assert "missing" in capsys.readouterr().out           # not cached yet: converted on the fly
    assert not any(cache_path(p).exists() for p in tree.labels.values())

    assert prepare.main(argv + ["--cache"]) == 0
    assert f"{len(tree.expected)} written" in capsys.readouterr().out
    for image, label in tree.labels.items():
        cached = np.array(Image.open(cache_path(label)))
        np.testing.assert_array_equal(cached, tree.expected[image])
    assert not list(tree.root.rglob(".*.tmp"))
    mtimes = {p: cache_path(p).stat().st_mtime_ns for p in tree.labels.values()}

    assert prepare.main(argv + ["--cache"]) == 0               # second run: nothing rewritten
    assert f"{len(tree.expected)} up to date" in capsys.readouterr().out
    assert mtimes == {p: cache_path(p).stat().st_mtime_ns for p in tree.labels.values()}

    ds = build(name, tree.root, DEFAULT_SPLITS[name])      # the dataset now reads the cache
    assert {p.name for p in ds.label_read_paths} == {cache_path(p).name for p in tree.labels.values()}
    for i in range(len(ds)):
        np.testing.assert_array_equal(ds[i]["label"].numpy(), tree.expected[ds[i]["path"]])


def test_generated_ids_cache_and_train_id_sets_need_none(tmp_path, capsys):
    tree = write_tree("generated", tmp_path / "gen", label_suffix=".png", label_encoding="ids")
    argv = ["generated", "--root", str(tree.root), "-o", "label_suffix=.png", "-o", "label_encoding=ids", "--cache"]
    assert prepare.main(argv) == 0
    assert f"{len(tree.expected)} written" in capsys.readouterr().out
    ds = build("generated", tree.root, "train", label_suffix=".png", label_encoding="ids")
    assert len(ds) == len(tree.expected)  # cache files are not mistaken for raw labels
    assert all(p.name.endswith("_labelTrainIds.png") for p in ds.label_read_paths)

    bdd = write_tree("bdd100k", tmp_path / "bdd")
    assert prepare.main(["bdd100k", "--root", str(bdd.root), "--cache"]) == 0
    assert "not needed" in capsys.readouterr().out
    assert not list(bdd.root.rglob("*_labelTrainIds.png"))


def test_broken_tree_reports_every_file(tmp_path, capsys):
    tree = write_tree("cityscapes", tmp_path / "cs", per_city=3)
    images = sorted(tree.expected)
    unknown, small, orphan, corrupt = images[:4]
    raw = np.array(Image.open(tree.labels[unknown]))
    raw[3, 3] = 40
    save_png(tree.labels[unknown], raw)
    save_png(tree.labels[small], np.zeros((8, 16), np.uint8))
    os.remove(tree.labels[orphan])
    Path(corrupt).write_bytes(Path(corrupt).read_bytes()[:60])
    stray = tree.root / "gtFine" / "val" / "bochum" / "bochum_000009_000000_gtFine_labelIds.png"
    save_png(stray, np.zeros((16, 32), np.uint8))

    report = prepare.check("cityscapes", tree.root, "val", cache=True, workers=2)
    flagged = {str(p.path) for p in report.errors}
    assert flagged == {str(tree.labels[unknown]), str(tree.labels[small]), orphan, corrupt, str(stray)}
    assert report.exit_code == 1 and report.num_pairs == len(images) - 1
    assert not cache_path(tree.labels[unknown]).exists()   # bad labels are never cached

    assert prepare.main(["cityscapes", "--root", str(tree.root)]) == 1
    out = capsys.readouterr().out
    for path in flagged:
        assert str(Path(path).relative_to(tree.root)) in out
    assert "40" in out and "differs" in out and "without label" in out and "without image" in out


def test_size_mismatch_is_a_warning_for_gta(tmp_path):
    tree = write_tree("gta", tmp_path / "gta", n=2)
    first = sorted(tree.expected)[0]
    save_png(tree.labels[first], np.zeros((9, 16), np.uint8), palette=True)
    report = prepare.check("gta", tree.root, "all")
    assert report.exit_code == 0 and [p.severity for p in report.problems] == ["warning"]
    report = prepare.check("gta", tree.root, "all", options={"size_mismatch": "error"})
    assert report.exit_code == 1


def test_corrupted_cache_is_detected_and_repaired(tmp_path):
    tree = write_tree("dark_zurich", tmp_path / "dz", n=1)
    (image,) = tree.expected
    assert prepare.check("dark_zurich", tree.root, "val", cache=True).cache["written"] == 1
    cached = cache_path(tree.labels[image])
    save_png(cached, np.zeros_like(tree.expected[image]))     # newer than the source, but wrong
    report = prepare.check("dark_zurich", tree.root, "val")
    assert report.exit_code == 1 and report.cache["stale"] == 1 and report.errors[0].path == cached
    report = prepare.check("dark_zurich", tree.root, "val", cache=True)
    assert report.exit_code == 0 and report.cache["written"] == 1
    np.testing.assert_array_equal(np.array(Image.open(cached)), tree.expected[image])


def test_missing_root_is_a_layout_error(tmp_path, capsys):
    assert prepare.main(["acdc", "--root", str(tmp_path / "nope")]) == 2
    out = capsys.readouterr().out
    assert "rgb_anon_trainvaltest.zip" in out and "Expected layout" in out


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "x_labelTrainIds.png"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare.write_label_atomic(target, np.zeros((4, 4), np.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_default_root_and_module_entry_point(tmp_path):
    tree = write_tree("cityscapes", tmp_path / "cityscapes")
    env = {**os.environ, "FLEXSEG_DATA": str(tmp_path), "OMP_NUM_THREADS": "1", "COLUMNS": "200",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-m", "flexseg.data.prepare", "cityscapes", "--cache", "--workers", "1"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(tree.expected)} image/label pairs" in run.stdout and str(tree.root) in run.stdout
    assert all(cache_path(p).exists() for p in tree.labels.values())


def test_prepare_gta_stats_and_rare_class_subset(tmp_path):
    """--stats writes DAFormer's sample_class_stats.json (pixels per train id, full resolution);
    --subset N writes N distinct frames drawn by rare-class sampling as name,class lines that
    the GTA builder reads (same seed → same file)."""
    import json

    import numpy as np

    from flexseg.data.datasets import build
    from flexseg.data.prepare import main
    from tests.data.fixtures import write_tree

    tree = write_tree("gta", tmp_path / "gta", n=5, size=(64, 48))
    assert main(["gta", "--root", str(tree.root), "--stats", "--workers", "1"]) == 0
    records = json.loads((tree.root / "sample_class_stats.json").read_text())
    assert len(records) == 5
    for record in records:
        expected = tree.expected[str(tree.root / "images" / record["file"].split("/")[-1])]
        values, counts = np.unique(expected[expected != 255], return_counts=True)
        assert {k: v for k, v in record.items() if k != "file"} == {str(int(c)): int(n) for c, n in zip(values, counts)}
    out = tmp_path / "subset.txt"
    args = ["gta", "--root", str(tree.root), "--subset", "3", "--min-pixels", "20", "--subset-file", str(out)]
    assert main(args) == 0
    lines = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 3 and len({line.split(",")[0] for line in lines}) == 3
    first = out.read_text()
    assert main(args) == 0 and out.read_text() == first
    ds = build("gta", tree.root, "train", split_file=out)
    assert len(ds) == 3 and all(s["sampled_class"] == int(line.split(",")[1]) for s, line in zip(ds, sorted(lines)))
    assert main(["gta", "--root", str(tree.root), "--subset", "6", "--min-pixels", "20",
                 "--subset-file", str(out)]) == 1            # more frames than exist: a message, exit 1


def test_gta_split_file_in_dginstyle_format(tmp_path):
    """DGInStyle's rcs_images_6000.json lines: <label path>,<class>."""
    from flexseg.data.datasets import build
    from flexseg.data.datasets.base import DatasetLayoutError
    from tests.data.fixtures import write_tree

    tree = write_tree("gta", tmp_path / "gta", n=3)
    listing = tmp_path / "rcs_images_6000.json"
    listing.write_text("/cluster/gta/labels/00002_labelTrainIds.png,12\n/cluster/gta/labels/00003_labelTrainIds.png,4\n")
    ds = build("gta", tree.root, "train", split_file=listing)
    assert [s["path"].split("/")[-1] for s in ds] == ["00002.png", "00003.png"]
    assert [s["sampled_class"] for s in ds] == [12, 4]
    listing.write_text("00002,19\n")
    with pytest.raises(DatasetLayoutError, match="train id"):
        build("gta", tree.root, "train", split_file=listing)
