"""flexseg.report on fixture run folders with known numbers."""
import json
import math

import pandas as pd
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
    # Δ mean vs the all-off baseline (one run, seed 0): paired on seed 0 only (48 − 38);
    # the difference of the group means (49 − 38) stays in metrics_long's ``delta``
    assert "| +10.00 |" in md and "| 1 | paired t, p: sign-flip |" in md
    long = pd.read_csv(out / "metrics_long.csv").set_index(["group", "metric"])
    assert long.at[("(defaults)", "mean"), "delta"] == pytest.approx(11.0)
    assert long.at[("(defaults)", "mean"), "delta_paired"] == pytest.approx(10.0)
    assert long.at[("(defaults)", "mean"), "n_pairs"] == 1 and math.isnan(long.at[("(defaults)", "mean"), "ci_low"])
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


# ---------------------------------------------------------------- paired comparisons
DOMS = ("clear", "fog", "night", "rain", "snow")
# per seed: mean-level offsets of the baseline (seed spread) and FLEX's gain (points)
SEED_BASE = {0: 38.0, 1: 40.5, 2: 39.0, 3: 41.0, 4: 39.5}
GAIN = {0: 1.5, 1: 0.8, 2: 2.1, 3: 1.2, 4: 0.4}


def synth10(root, flex_seeds=range(5), off_seeds=range(5)):
    """The lead's layout: <root>/main/{flex,off}/<seed>, plain `seed=S [flex=off]` runs.
    Every domain of a run has the same mIoU, so each metric equals the run's level."""
    for seed in flex_seeds:
        level = (SEED_BASE[seed] + GAIN[seed]) / 100
        write_run(root / "main" / "flex" / str(seed), {d: level for d in DOMS}, seed, [])
    for seed in off_seeds:
        write_run(root / "main" / "off" / str(seed), {d: SEED_BASE[seed] / 100 for d in DOMS}, seed, ["flex=off"],
                  flex_on=False)
    return root


def test_paired_comparison_matches_scipy_and_fills_metrics_long(tmp_path):
    from scipy import stats as sps

    root = synth10(tmp_path / "synth10")
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out)]) == 0
    flex = [SEED_BASE[s] + GAIN[s] for s in range(5)]
    off = [SEED_BASE[s] for s in range(5)]
    ci = sps.ttest_rel(flex, off).confidence_interval(0.95)
    long = pd.read_csv(out / "metrics_long.csv")
    assert list(long.columns[:7]) == ["group", "metric", "mean", "std", "n", "baseline", "delta"]
    assert {"ci_low", "ci_high", "p_value", "n_pairs"} <= set(long.columns)
    assert len(long) == long[["group", "metric"]].drop_duplicates().shape[0]  # one row per group × metric
    row = long.set_index(["group", "metric"]).loc[("(defaults)", "adverse")]
    assert row["delta"] == pytest.approx(1.2) and row["n_pairs"] == 5
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert row["p_value"] == pytest.approx(2 / 32)  # every seed gains: exact sign-flip p = 2 / 2^5
    base_row = long.set_index(["group", "metric"]).loc[("flex=off", "mean")]
    assert base_row["n_pairs"] == 0 and math.isnan(base_row["ci_low"]) and math.isnan(base_row["p_value"])
    md = (out / "report.md").read_text()
    cell = f"+1.20 [{ci.low:+.2f}, {ci.high:+.2f}]"
    assert f"| {cell} | {cell} |" in md  # Δ mean and Δ adverse
    assert f"| (defaults) | flex=off | adverse | {cell} | 0.062 | 5 | paired t | sign-flip |" in md
    assert "| (defaults) | flex=off | adverse − clear | +0.00 [+0.00, +0.00] | 1.00 | 5 |" in md
    comps = pd.read_csv(out / "comparisons.csv")
    assert set(comps["group"]) == {"(defaults)"} and "clear" in set(comps["metric"])
    assert (out / "deltas.png").stat().st_size > 1000


def test_unmatched_seeds_are_dropped_with_a_warning(tmp_path, caplog):
    from scipy import stats as sps

    root = synth10(tmp_path / "synth10", flex_seeds=range(5), off_seeds=(0, 1, 2))
    runs = report.load_runs([root])
    frame = report.runs_frame(runs)
    with caplog.at_level("WARNING"):
        comps = report.comparisons(frame, report.assign_baselines(runs))
    assert "seeds [3, 4] of (defaults)" in caplog.text and "dropped" in caplog.text
    row = comps.set_index("metric").loc["mean"]
    flex, off = [SEED_BASE[s] + GAIN[s] for s in range(3)], [SEED_BASE[s] for s in range(3)]
    ci = sps.ttest_rel(flex, off).confidence_interval(0.95)
    assert row["n_pairs"] == 3 and row["n"] == 5 and row["n_base"] == 3
    assert row["delta"] == pytest.approx(sum(GAIN[s] for s in range(3)) / 3)
    assert (row["low"], row["high"]) == pytest.approx((ci.low, ci.high))


def test_welch_when_groups_share_no_seed(tmp_path):
    from scipy import stats as sps

    root = tmp_path / "sweep"
    for seed in range(3):
        write_run(root / "flex" / str(seed), {d: (SEED_BASE[seed] + GAIN[seed]) / 100 for d in DOMS}, seed, [])
    for seed in (3, 4):
        write_run(root / "off" / str(seed), {d: SEED_BASE[seed] / 100 for d in DOMS}, seed, OFF, flex_on=False)
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out)]) == 0
    flex, off = [SEED_BASE[s] + GAIN[s] for s in range(3)], [SEED_BASE[s] for s in (3, 4)]
    ref = sps.ttest_ind(flex, off, equal_var=False)
    row = pd.read_csv(out / "comparisons.csv").set_index("metric").loc["mean"]
    assert row["interval"] == "Welch t" and row["n_pairs"] == 0
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert row["p_value"] == pytest.approx(ref.pvalue)
    md = (out / "report.md").read_text()
    assert "| 3+2 | Welch t | Welch t |" in md and "| 0 | Welch t, p: Welch t |" in md


def test_one_pair_gives_no_interval_and_no_crash(tmp_path):
    root = synth10(tmp_path / "synth10", flex_seeds=(0,), off_seeds=(0,))
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out)]) == 0
    long = pd.read_csv(out / "metrics_long.csv").set_index(["group", "metric"])
    row = long.loc[("(defaults)", "mean")]
    assert row["n_pairs"] == 1 and math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
    assert math.isnan(row["p_value"])
    assert row["delta"] == pytest.approx(1.5)
    assert "| (defaults) | flex=off | mean | +1.50 | — | 1 | paired t | sign-flip |" in (out / "report.md").read_text()


def test_bootstrap_and_wilcoxon_options(tmp_path):
    from scipy import stats as sps

    root = synth10(tmp_path / "synth10")
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out), "--ci", "bootstrap", "--test", "wilcoxon"]) == 0
    row = pd.read_csv(out / "comparisons.csv").set_index("metric").loc["mean"]
    diffs = [GAIN[s] for s in range(5)]
    assert row["interval"] == "paired bootstrap" and row["test"] == "Wilcoxon"
    assert row["p_value"] == pytest.approx(sps.wilcoxon(diffs).pvalue)
    assert min(diffs) <= row["low"] < row["high"] <= max(diffs)  # percentile of resampled means
    ci = sps.ttest_rel([SEED_BASE[s] + GAIN[s] for s in range(5)], [SEED_BASE[s] for s in range(5)]).confidence_interval()
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))  # t interval kept alongside
    assert "percentile bootstrap of the per-seed differences (10000 resamples, seed 0)" in (out / "report.md").read_text()
    with pytest.raises(SystemExit):
        report.main([str(root), "--out", str(out), "--ci", "bca"])
    with pytest.raises(SystemExit):
        report.main([str(root), "--out", str(out), "--test", "mannwhitney"])


def test_group_by_folder_reads_the_synth10_layout(tmp_path):
    root = synth10(tmp_path / "synth10")
    runs = report.load_runs([root], group_by="folder")
    assert sorted(set(report.group_labels(runs))) == ["main/flex", "main/off"]
    assert report.assign_baselines(runs) == {"main/flex": "main/off", "main/off": "main/off"}
    runs_main = report.load_runs([root / "main"], group_by="folder")
    assert sorted(set(report.group_labels(runs_main))) == ["flex", "off"]
    # default grouping by overrides separates the same runs into (defaults) / flex=off
    assert sorted(set(report.group_labels(report.load_runs([root])))) == ["(defaults)", "flex=off"]
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out), "--group-by", "folder", "--baseline", "flex.gap.enabled=false"]) == 0
    assert "| main/flex | main/off | mean |" in (out / "report.md").read_text()
    with pytest.raises(ValueError, match="group_by"):
        report.load_runs([root], group_by="name")


@pytest.mark.slow
def test_versus_deltas_pair_within_each_value(tmp_path):
    root = tmp_path / "grid"
    for px, gain in ((0, 0.5), (8, 3.0)):
        for seed in range(3):
            for flex_on in (True, False):
                level = SEED_BASE[seed] + px * -0.1 + (gain + 0.1 * seed if flex_on else 0.0)
                path = root / f"px{px}" / ("flex" if flex_on else "off") / str(seed)
                write_run(path, {d: level / 100 for d in DOMS}, seed,
                          [f"data.misalignment_px={px}"] + ([] if flex_on else OFF), flex_on=flex_on)
                config = yaml.safe_load((path / ".hydra" / "config.yaml").read_text())
                config["data"] = {"misalignment_px": px}
                (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    runs = report.load_runs([root])
    vc = report.versus_comparisons(runs, "data.misalignment_px").set_index(["data.misalignment_px", "metric"])
    assert vc.at[(0, "mean"), "delta"] == pytest.approx(0.6) and vc.at[(8, "mean"), "delta"] == pytest.approx(3.1)
    assert vc.at[(8, "mean"), "n_pairs"] == 3 and vc.at[(8, "mean"), "baseline"] == " ".join(sorted(OFF))
    assert vc.at[(8, "mean"), "ci_low"] < 3.1 < vc.at[(8, "mean"), "ci_high"]
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out), "--x", "data.misalignment_px"]) == 0
    md = (out / "versus_data.misalignment_px_delta.md").read_text()
    assert "| (defaults) | 8 | flex.gap.enabled=false" in md and "| mean | +3.10 [" in md
    assert (out / "versus_data.misalignment_px_delta.png").stat().st_size > 1000


def test_duplicate_seeds_in_a_group_fall_back_to_welch(tmp_path, caplog):
    from scipy import stats as sps

    root = synth10(tmp_path / "a", flex_seeds=range(3), off_seeds=range(3))
    synth10(tmp_path / "b", flex_seeds=range(3), off_seeds=())  # FLEX seeds 0-2 a second time
    runs = report.load_runs([root, tmp_path / "b"])
    with caplog.at_level("WARNING"):
        comps = report.comparisons(report.runs_frame(runs), report.assign_baselines(runs))
    assert "cannot be paired" in caplog.text
    row = comps.set_index("metric").loc["mean"]
    flex = [SEED_BASE[s] + GAIN[s] for s in range(3)] * 2
    ref = sps.ttest_ind(flex, [SEED_BASE[s] for s in range(3)], equal_var=False)
    assert row["interval"] == "Welch t" and row["n"] == 6 and row["n_base"] == 3
    assert (row["low"], row["high"]) == pytest.approx(tuple(ref.confidence_interval(0.95)))


def test_interval_formatting_and_error_bar_widths():
    assert report.fmt_delta_ci(1.4812, -1.2866, 4.2449) == "+1.48 [-1.29, +4.24]"
    assert report.fmt_delta_ci(1.5, float("nan"), float("nan")) == "+1.50"  # one pair: no interval
    assert report.fmt_delta_ci(float("nan"), 0.0, 1.0) == "—"
    assert [report.fmt_p(p) for p in (0.25, 0.0625, 2 / 1024, 1e-6, float("nan"))] == ["0.25", "0.062", "0.002",
                                                                                     "<1e-4", "—"]
    # bar half widths: t_{0.975, n-1} · std / √n, none (0) for one run
    assert report._ci_half_widths([2.0, float("nan"), 1.0], [3, 1, 10]) == pytest.approx(
        [4.302652729911275 * 2.0 / math.sqrt(3), 0.0, 2.262157162740992 / math.sqrt(10)])


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
