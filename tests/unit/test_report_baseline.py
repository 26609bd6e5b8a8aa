"""flexseg.report: which group is the baseline, ``--baseline`` and ``--ignore``.

Fixture runs as ``flexseg.train`` leaves them (``results.json`` + ``.hydra/``); each test
asserts the groups, the baseline each group is compared with and the numbers written.
"""
from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import yaml

from flexseg import report

OFF = ["flex.gap.enabled=false", "flex.ube.enabled=false", "flex.has.enabled=false"]
OFF_LABEL = " ".join(sorted(OFF))
DOMS = ("clear", "fog")


def write_run(path, seed, overrides, level, gap=True, ube=True, has=True, model="daformer", px=0):
    """One finished synthdrive run: every domain at ``level`` (fraction), + .hydra files."""
    (path / ".hydra").mkdir(parents=True)
    results = {"miou": {d: level for d in DOMS}, "mean": level, "boundary_acc": {d: 0.5 for d in DOMS},
               "interior_acc": {d: 0.9 for d in DOMS}}
    (path / "results.json").write_text(json.dumps(results))
    config = {"seed": seed, "model": {"name": model}, "data": {"misalignment_px": px},
              "flex": {"gap": {"enabled": gap}, "ube": {"enabled": ube}, "has": {"enabled": has}},
              "paths": {"output_dir": str(path)}}
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*overrides, f"seed={seed}", f"hydra.run.dir={path}"]))


def two_models(root):
    """DAFormer and HRDA, each FLEX and all-off, seeds 0–1: HRDA is 10 points above
    DAFormer, FLEX 1 (DAFormer) or 2 (HRDA) points above its off arm."""
    for model, base in (("daformer", 0.40), ("hrda", 0.50)):
        gain = 0.01 if model == "daformer" else 0.02
        for seed in (0, 1):
            write_run(root / model / "flex" / str(seed), seed, [f"model={model}"], base + gain + 0.01 * seed, model=model)
            write_run(root / model / "off" / str(seed), seed, [f"model={model}", *OFF], base + 0.01 * seed,
                      gap=False, ube=False, has=False, model=model)
    return root


# ------------------------------------------------------------ the automatic baseline
def test_each_group_gets_the_closest_all_off_group(tmp_path):
    runs = report.load_runs([two_models(tmp_path / "runs")])
    labels = ["model=daformer", f"{OFF_LABEL} model=daformer", "model=hrda", f"{OFF_LABEL} model=hrda"]
    assert list(dict.fromkeys(report.group_labels(runs))) == labels
    assert report.baseline_groups(runs) == [labels[1], labels[3]]
    # HRDA+FLEX differs from HRDA-off in the 3 flex switches, from DAFormer-off also in the model
    assert report.assign_baselines(runs) == {labels[0]: labels[1], labels[1]: labels[1],
                                             labels[2]: labels[3], labels[3]: labels[3]}
    out = tmp_path / "out"
    assert report.main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    summary = pd.read_csv(out / "report.csv").set_index("group")
    assert summary.at["model=hrda", "baseline"] == labels[3] and summary.at[labels[3], "baseline"] == "(this)"
    assert summary.at["model=daformer", "Δ mean"].startswith("+1.00")
    assert summary.at["model=hrda", "Δ mean"].startswith("+2.00")  # not +12.00 (vs DAFormer-off)
    comps = pd.read_csv(out / "comparisons.csv")
    assert sorted(set(zip(comps["group"], comps["baseline"]))) == [(labels[0], labels[1]), (labels[2], labels[3])]


def test_a_tie_goes_to_the_baseline_seen_first(tmp_path):
    """FLEX at px 0 is as far from all-off at px 4 as from all-off at px 8 (3 switches + px):
    the baseline whose runs come first (order of the folders given) wins."""
    for seed in (0, 1):
        write_run(tmp_path / "a" / "flex" / str(seed), seed, [], 0.45 + 0.01 * seed)
        write_run(tmp_path / "b" / "off4" / str(seed), seed, [*OFF, "data.misalignment_px=4"], 0.40, False, False, False,
                  px=4)
        write_run(tmp_path / "c" / "off8" / str(seed), seed, [*OFF, "data.misalignment_px=8"], 0.42, False, False, False,
                  px=8)
    off4, off8 = f"data.misalignment_px=4 {OFF_LABEL}", f"data.misalignment_px=8 {OFF_LABEL}"
    bases = report.assign_baselines(report.load_runs([tmp_path / "a", tmp_path / "b", tmp_path / "c"]))
    assert bases == {"(defaults)": off4, off4: off4, off8: off8}
    bases = report.assign_baselines(report.load_runs([tmp_path / "a", tmp_path / "c", tmp_path / "b"]))
    assert bases == {"(defaults)": off8, off4: off4, off8: off8}


def test_no_all_off_group_means_no_deltas(tmp_path):
    for seed in (0, 1):
        write_run(tmp_path / "runs" / "flex" / str(seed), seed, [], 0.45)
        write_run(tmp_path / "runs" / "nogap" / str(seed), seed, ["flex.gap.enabled=false"], 0.44, gap=False)
    runs = report.load_runs([tmp_path / "runs"])
    assert report.baseline_groups(runs) == [] and report.assign_baselines(runs) == {}
    out = tmp_path / "out"
    assert report.main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    assert list(pd.read_csv(out / "report.csv").columns) == ["group", "n", "clear", "fog", "mean", "adverse",
                                                             "boundary_acc", "interior_acc"]
    assert not (out / "comparisons.csv").exists() and not (out / "deltas.png").exists()
    assert "delta" not in pd.read_csv(out / "metrics_long.csv").columns


# ------------------------------------------------------------------- --baseline
def test_baseline_option_selects_by_override_values(tmp_path, capsys):
    """``+experiment=…`` is a config-group choice: it is only in the overrides, not a config key."""
    for seed in (0, 1, 2):
        write_run(tmp_path / "runs" / "flex" / str(seed), seed, ["+experiment=daformer_flex"], 0.45 + 0.01 * seed)
        write_run(tmp_path / "runs" / "dgin" / str(seed), seed, ["+experiment=daformer_dginstyle"], 0.40 + 0.01 * seed,
                  False, False, False)
        write_run(tmp_path / "runs" / "nogap" / str(seed), seed, ["+experiment=daformer_flex", "flex.gap.enabled=false"],
                  0.43 + 0.01 * seed, gap=False)
    runs = report.load_runs([tmp_path / "runs"])
    flex, dgin, nogap = "experiment=daformer_flex", "experiment=daformer_dginstyle", "experiment=daformer_flex flex.gap.enabled=false"
    assert report.assign_baselines(runs, {"experiment": "daformer_dginstyle"}) == {flex: dgin, dgin: dgin, nogap: dgin}
    # a value is parsed as YAML or compared case-insensitively: False, FALSE and false are one value
    for value in ("False", "FALSE", "false"):
        assert report.baseline_groups(runs, {"flex.gap.enabled": value}) == [dgin, nogap]
    out = tmp_path / "out"
    assert report.main([str(tmp_path / "runs"), "--out", str(out), "--baseline", "+experiment=daformer_dginstyle"]) == 0
    comps = pd.read_csv(out / "comparisons.csv").set_index(["group", "metric"])
    assert set(comps["baseline"]) == {dgin}
    assert comps.at[(flex, "mean"), "delta"] == pytest.approx(5.0)
    assert comps.at[(nogap, "mean"), "delta"] == pytest.approx(3.0)
    assert comps.at[(flex, "mean"), "n_pairs"] == 3


def test_baseline_option_flex_off_matches_the_override(tmp_path):
    for seed in (0, 1):
        write_run(tmp_path / "runs" / "flex" / str(seed), seed, [], 0.45)
        write_run(tmp_path / "runs" / "off" / str(seed), seed, ["flex=off"], 0.40, False, False, False)
    runs = report.load_runs([tmp_path / "runs"])
    assert report.baseline_groups(runs, {"flex": "off"}) == ["flex=off"]
    # the YAML reading still applies: flex.gap.enabled=false matches the boolean in the config
    assert report.baseline_groups(runs, {"flex.gap.enabled": "false"}) == ["flex=off"]
    assert report.baseline_groups(runs, {"flex": "on"}) == []


def test_baseline_option_with_several_values_and_typed_values(tmp_path):
    root = two_models(tmp_path / "runs")
    runs = report.load_runs([root])
    hrda_off = f"{OFF_LABEL} model=hrda"
    # both values must match: only HRDA-off; everybody is compared with it
    wanted = report.parse_key_values(["model=hrda", "flex.gap.enabled=false"])
    assert wanted == {"model": "hrda", "flex.gap.enabled": "false"}
    assert set(report.assign_baselines(runs, wanted).values()) == {hrda_off}
    # a number in the composed config: "4" is read as 4
    runs_px = report.load_runs([_px_runs(tmp_path / "px")])
    assert report.baseline_groups(runs_px, {"data.misalignment_px": "4"}) == ["data.misalignment_px=4"]
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out), "--baseline", "model=hrda", "flex.gap.enabled=false"]) == 0
    comps = pd.read_csv(out / "comparisons.csv").set_index(["group", "metric"])
    assert set(comps["baseline"]) == {hrda_off}
    assert comps.at[("model=daformer", "mean"), "delta"] == pytest.approx(-9.0)  # 41 / 42 vs 50 / 51
    assert comps.at[(f"{OFF_LABEL} model=daformer", "mean"), "delta"] == pytest.approx(-10.0)
    assert comps.at[("model=hrda", "mean"), "delta"] == pytest.approx(2.0)


def _px_runs(root):
    for px in (0, 4):
        for seed in (0, 1):
            write_run(root / f"px{px}" / str(seed), seed, [f"data.misalignment_px={px}"], 0.4 + 0.01 * px, px=px)
    return root


def test_baseline_option_matching_several_groups_compares_each_with_the_closest(tmp_path):
    """``--baseline flex.gap.enabled=false`` matches all-off and GAP-off: both are baselines
    (of themselves), and FLEX, closer to GAP-off (1 switch) than to all-off (3), takes GAP-off."""
    for seed in (0, 1):
        write_run(tmp_path / "runs" / "flex" / str(seed), seed, [], 0.45 + 0.01 * seed)
        write_run(tmp_path / "runs" / "off" / str(seed), seed, OFF, 0.40 + 0.01 * seed, False, False, False)
        write_run(tmp_path / "runs" / "nogap" / str(seed), seed, ["flex.gap.enabled=false"], 0.43 + 0.01 * seed,
                  gap=False)
    runs = report.load_runs([tmp_path / "runs"])
    bases = report.assign_baselines(runs, {"flex.gap.enabled": "false"})
    assert bases == {"(defaults)": "flex.gap.enabled=false", OFF_LABEL: OFF_LABEL,
                     "flex.gap.enabled=false": "flex.gap.enabled=false"}
    out = tmp_path / "out"
    assert report.main([str(tmp_path / "runs"), "--out", str(out), "--baseline", "flex.gap.enabled=false"]) == 0
    comps = pd.read_csv(out / "comparisons.csv")
    assert set(comps["group"]) == {"(defaults)"}  # baselines are not compared
    assert comps.set_index("metric").at["mean", "delta"] == pytest.approx(2.0)
    summary = pd.read_csv(out / "report.csv").set_index("group")
    assert summary.at[OFF_LABEL, "baseline"] == "(this)" and summary.at["flex.gap.enabled=false", "baseline"] == "(this)"


def test_baseline_option_matching_nothing_warns_and_writes_no_deltas(tmp_path, caplog):
    root = two_models(tmp_path / "runs")
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert report.main([str(root), "--out", str(out), "--baseline", "model=segformer"]) == 0
    assert "no group matches --baseline {'model': 'segformer'}: no deltas" in caplog.text
    assert "baseline" not in pd.read_csv(out / "report.csv").columns
    assert not (out / "comparisons.csv").exists()
    # a key that no run has matches nothing either (it is not an error)
    assert report.assign_baselines(report.load_runs([root]), {"no.such.key": "1"}) == {}


def test_baseline_option_without_a_value_is_an_error(tmp_path, capsys):
    root = two_models(tmp_path / "runs")
    assert report.main([str(root), "--out", str(tmp_path / "out"), "--baseline", "model"]) == 2
    assert "error: --baseline expects KEY=VALUE, got 'model'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="KEY=VALUE"):
        report.parse_key_values(["a=1", "b"])
    assert report.parse_key_values(["+experiment=x", "a.b="]) == {"experiment": "x", "a.b": ""}


# --------------------------------------------------------------------- --ignore
def test_ignore_leaves_keys_out_of_grouping(tmp_path):
    root = tmp_path / "runs"
    for px in (0, 4):
        for seed in (0, 1):
            ckpt = ["callbacks.model_checkpoint.every_n_train_steps=100"] if seed else []
            write_run(root / f"px{px}" / str(seed), seed,
                      [f"data.misalignment_px={px}", "data.batch_size=2", "database=x", "tags=[a]", *ckpt],
                      0.40 + 0.01 * px + 0.01 * seed, px=px)
    runs = report.load_runs([root])
    # seed, hydra.*, paths.*, tags, checkpoint settings are never group keys; data.batch_size and
    # database are shared
    assert runs[0].group() == runs[1].group() == "data.batch_size=2 data.misalignment_px=0 database=x"
    assert sorted(set(report.group_labels(runs))) == ["data.misalignment_px=0", "data.misalignment_px=4"]
    ignore = (*report.DEFAULT_IGNORED, "data.misalignment_px")
    assert runs[0].group(ignore) == runs[3].group(ignore) == "data.batch_size=2 database=x"
    # a prefix pattern "data.*" covers data.misalignment_px and data.batch_size but not "database"
    assert runs[3].group((*report.DEFAULT_IGNORED, "data.*")) == "database=x"
    # an explicit pattern list replaces the defaults (checkpoint settings count again)
    assert runs[3].group_overrides(("data.*", "seed", "hydra.*", "tags")) == {
        "database": "x", "callbacks.model_checkpoint.every_n_train_steps": "100"}
    out = tmp_path / "out"
    assert report.main([str(root), "--out", str(out), "--ignore", "data.misalignment_px"]) == 0
    summary = pd.read_csv(out / "report.csv")
    assert summary["group"].tolist() == ["data.batch_size=2 database=x"] and summary["n"].tolist() == [4]
    assert summary.at[0, "mean"] == "42.50 ± 2.38"  # 40, 41, 44, 45
    runs_csv = pd.read_csv(out / "runs.csv")
    assert runs_csv["group"].tolist() == ["data.batch_size=2 database=x"] * 4 and runs_csv["seed"].tolist() == [0, 1, 0, 1]
    assert "Common to all groups" not in (out / "report.md").read_text()  # one group: its label keeps them
    # without --ignore: two groups of two runs, labelled by the differing override only
    out2 = tmp_path / "out2"
    assert report.main([str(root), "--out", str(out2)]) == 0
    summary = pd.read_csv(out2 / "report.csv")
    assert summary["group"].tolist() == ["data.misalignment_px=0", "data.misalignment_px=4"]
    assert summary["mean"].tolist() == ["40.50 ± 0.71", "44.50 ± 0.71"]
    assert "Common to all groups: `data.batch_size=2` `database=x`" in (out2 / "report.md").read_text()
