"""flexseg.report on fixture run folders with known numbers."""
import json
import math

import pytest
import yaml

from flexseg import report

OFF = ["flex.gap.enabled=false", "flex.ube.enabled=false", "flex.has.enabled=false"]


def write_run(path, mious, seed, overrides, flex_on=True, boundary=None, interior=None):
    """A fake finished run: results.json (fractions) + .hydra/{config,overrides}.yaml."""
    (path / ".hydra").mkdir(parents=True)
    results = {"miou": mious, "mean": sum(mious.values()) / len(mious),
               "boundary_acc": boundary or {d: 0.5 for d in mious}, "interior_acc": interior or {d: 0.9 for d in mious}}
    (path / "results.json").write_text(json.dumps(results))
    on = flex_on
    config = {"seed": seed, "model": {"_target_": "flexseg.models.daformer.DAFormer"},
              "flex": {"gap": {"enabled": on}, "ube": {"enabled": on}, "has": {"enabled": on}},
              "paths": {"output_dir": str(path)}}
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (path / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([*overrides, f"seed={seed}", f"hydra.run.dir={path}", f"paths.output_dir={path}"]))


REAL_BASE = [  # per seed: ACDC, DZ, CS, BDD, MV (fractions)
    (0.40, 0.20, 0.50, 0.60, 0.70),
    (0.42, 0.22, 0.50, 0.60, 0.70),
    (0.44, 0.24, 0.50, 0.60, 0.70),
]
NAMES = ("acdc", "dark_zurich", "cityscapes", "bdd100k", "mapillary")


@pytest.fixture
def multirun(tmp_path):
    """A multirun folder: jobs 0–2 baseline (seeds 0,1,2), jobs 3–5 FLEX (+1 point everywhere)."""
    root = tmp_path / "multirun"
    root.mkdir()
    (root / "multirun.yaml").write_text("hydra: {}\n")
    job = 0
    for flex_on, shift in ((False, 0.0), (True, 0.01)):
        for seed, values in enumerate(REAL_BASE):
            mious = {n: v + shift for n, v in zip(NAMES, values)}
            overrides = ["+experiment=daformer_flex"] + ([] if flex_on else OFF)
            write_run(root / str(job), mious, seed, overrides, flex_on=flex_on)
            job += 1
    (root / "6" / ".hydra").mkdir(parents=True)  # an unfinished job: skipped
    return root


def test_averages_real_and_synth():
    real = dict(zip(NAMES, (40.0, 20.0, 50.0, 60.0, 70.0)))
    assert report.averages(real) == pytest.approx({"Avg2": 30.0, "Avg3": 60.0, "Avg5": 48.0})
    partial = {"acdc": 40.0, "dz": 20.0, "cs": 50.0}
    assert report.averages(partial) == pytest.approx({"Avg2": 30.0})
    synth = {"clear": 0.8, "fog": 0.6, "night": 0.2, "rain": 0.5, "snow": 0.3}
    assert report.averages(synth) == pytest.approx({"mean": 0.48, "adverse": 0.4})
    assert report.averages({"clear": 0.5, "night": float("nan")}) == {"mean": 0.5}  # NaN skipped
    assert report.averages({"clear": 0.5}) == {"mean": 0.5}


def test_load_runs_groups_by_overrides_minus_seed_and_hydra(multirun):
    runs = report.load_runs([multirun])
    assert [r.path.name for r in runs] == ["0", "1", "2", "3", "4", "5"]
    assert [r.seed for r in runs] == [0, 1, 2, 0, 1, 2]
    groups = {r.group() for r in runs}
    assert groups == {"experiment=daformer_flex", "experiment=daformer_flex " + " ".join(sorted(OFF))}
    # a single run directory works too
    assert len(report.load_runs([multirun / "4"])) == 1


def test_aggregate_mean_std_exact(multirun):
    runs = report.load_runs([multirun])
    agg = report.aggregate(runs).set_index(["group", "metric"])
    base, flex = " ".join(sorted(OFF)), "(common)"  # labels leave out the shared +experiment
    assert agg.at[(base, "ACDC"), "mean"] == pytest.approx(42.0)
    assert agg.at[(base, "ACDC"), "std"] == pytest.approx(2.0)  # sample std of 40, 42, 44
    assert agg.at[(base, "ACDC"), "n"] == 3
    assert agg.at[(base, "Avg2"), "mean"] == pytest.approx(32.0)  # per run 30, 32, 34
    assert agg.at[(base, "Avg2"), "std"] == pytest.approx(2.0)
    assert agg.at[(base, "Avg3"), "mean"] == pytest.approx(60.0)
    assert agg.at[(base, "Avg3"), "std"] == pytest.approx(0.0, abs=1e-9)
    assert agg.at[(base, "Avg5"), "mean"] == pytest.approx(48.8)  # per run 48, 48.8, 49.6
    assert agg.at[(base, "Avg5"), "std"] == pytest.approx(0.8)
    assert agg.at[(flex, "Avg5"), "mean"] == pytest.approx(49.8)
    assert agg.at[(flex, "boundary_acc"), "mean"] == pytest.approx(50.0)
    assert agg.at[(flex, "interior_acc/ACDC"), "mean"] == pytest.approx(90.0)


def test_deltas_vs_automatic_and_explicit_baseline(multirun):
    runs = report.load_runs([multirun])
    assert report.common_overrides(runs) == {"experiment": "daformer_flex"}
    base, flex = " ".join(sorted(OFF)), "(common)"
    for bl in (None, {"flex.gap.enabled": "false", "flex.ube.enabled": "false", "flex.has.enabled": "false"}):
        bases = report.assign_baselines(runs, bl)
        assert bases == {base: base, flex: base}
        agg = report.with_deltas(report.aggregate(runs), bases).set_index(["group", "metric"])
        for m in ("ACDC", "DZ", "CS", "BDD", "MV", "Avg2", "Avg3", "Avg5"):
            assert agg.at[(flex, m), "delta"] == pytest.approx(1.0)
            assert agg.at[(base, m), "delta"] == pytest.approx(0.0)


def test_single_run_std_is_nan_and_formatting():
    assert report.fmt_mean_std(48.581, 0.1234, 3) == "48.58 ± 0.12"
    assert report.fmt_mean_std(48.581, float("nan"), 1) == "48.58"
    assert report.fmt_mean_std(float("nan"), float("nan"), 0) == "—"


def test_synthdrive_runs_and_cli_outputs(tmp_path, capsys):
    root = tmp_path / "sweep"
    doms = ("clear", "fog", "night", "rain", "snow")
    for seed in range(2):
        write_run(root / str(seed), dict(zip(doms, (0.8, 0.6, 0.2, 0.5, 0.3 + 0.1 * seed))), seed, [])
    write_run(root / "2", dict(zip(doms, (0.7, 0.5, 0.1, 0.4, 0.2))), 0, OFF, flex_on=False)
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out)]) == 0
    for name in ("report.md", "report.csv", "runs.csv", "metrics_long.csv", "miou_by_domain.png", "deltas.png"):
        assert (out / name).is_file(), name
    md = (out / "report.md").read_text()
    assert "(defaults)" in md and "adverse" in md
    # defaults group: mean over seeds of per-run means 48, 50 → 49 ± 1.41
    assert "49.00 ± 1.41" in md
    assert "+11.00" in md  # Δ mean vs the all-off baseline (mean 38.0)
    agg = report.aggregate(report.load_runs([root])).set_index(["group", "metric"])
    assert agg.at[("(defaults)", "mean"), "mean"] == pytest.approx(49.0)
    assert agg.at[("(defaults)", "mean"), "std"] == pytest.approx(math.sqrt(2.0))
    assert agg.at[("(defaults)", "adverse"), "mean"] == pytest.approx(41.25)  # (40 + 42.5) / 2
    assert len(list((out / "groups").glob("*.md"))) == 2


def test_no_runs_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "0" / ".hydra").mkdir(parents=True)
    with pytest.raises(report.NoRunsError, match="no finished run .*empty"):
        report.load_runs([empty])
    assert report.main([str(empty)]) == 2
    assert "unfinished" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.load_runs([tmp_path / "missing"])


def test_versus_a_swept_value(tmp_path, capsys):
    """--x data.misalignment_px: one line per group without the swept key, mean ± std per value."""
    root = tmp_path / "sweep"
    job = 0
    for flex_on in (False, True):
        for px in (0, 4):
            for seed in (0, 1):
                value = 0.5 + 0.01 * px * (1 if flex_on else -1) + 0.02 * seed
                mious = {d: value for d in ("clear", "fog")}
                path = root / str(job)
                write_run(path, mious, seed, [f"data.misalignment_px={px}"] + ([] if flex_on else OFF), flex_on=flex_on)
                config = yaml.safe_load((path / ".hydra" / "config.yaml").read_text())
                config["data"] = {"misalignment_px": px}
                (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
                job += 1
    runs = report.load_runs([root])
    vs = report.versus_frame(runs, "data.misalignment_px")
    assert sorted(vs["group"].unique()) == sorted(["(defaults)", " ".join(sorted(OFF))])
    row = vs[(vs["metric"] == "clear") & (vs["data.misalignment_px"] == 4) & ~vs["group"].str.contains("enabled")]
    assert row["mean"].item() == pytest.approx(100 * (0.54 + 0.01)) and row["n"].item() == 2
    assert row["std"].item() == pytest.approx(100 * 0.02 / math.sqrt(2))
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out), "--x", "data.misalignment_px"]) == 0
    table = (out / "versus_data.misalignment_px.md").read_text()
    assert "| (defaults) | 4 | 55.00 ± 1.41 |" in table and "| 0 | 51.00 ± 1.41 |" in table and "| 4 | 47.00 ± 1.41 |" in table
    assert (out / "versus_data.misalignment_px.png").stat().st_size > 1000
    assert report.main([str(root), "--out", str(out), "--x", "data.nope"]) == 2
    assert "data.nope" in capsys.readouterr().err


def test_markdown_table_and_csv(tmp_path):
    import csv

    from flexseg.utils.tables import markdown_table, write_csv

    md = markdown_table(["a", "b"], [[1, float("nan")], ["x|y", None]])
    assert md == "| a | b |\n|---|---|\n| 1 | — |\n| x\\|y | — |\n"
    path = write_csv(tmp_path / "t.csv", ["a", "b"], [[1, 2], [3, 4]])
    assert list(csv.reader(open(path))) == [["a", "b"], ["1", "2"], ["3", "4"]]


def test_printed_paper_row_has_the_paper_columns():
    """After a paper recipe, training prints ACDC, DZ, CS, BDD, MV, Avg2, Avg3, Avg5 (%)."""
    from flexseg.report import averages
    from flexseg.utils.console import paper_table

    mious = {"acdc": 0.4, "dark_zurich": 0.2, "cityscapes": 0.5, "bdd100k": 0.45, "mapillary": 0.55}
    results = {d: {"miou": v} for d, v in mious.items()}
    table = paper_table(results, averages(mious))
    assert [c.header for c in table.columns] == ["ACDC", "DZ", "CS", "BDD", "MV", "Avg2", "Avg3", "Avg5"]
    assert [next(iter(c.cells)) for c in table.columns] == ["40.00", "20.00", "50.00", "45.00", "55.00",
                                                            "30.00", "50.00", "42.00"]
    synth = {d: {"miou": 0.5} for d in ("clear", "fog")}
    assert paper_table(synth, averages({d: 0.5 for d in synth})) is None   # synthdrive: unchanged output
