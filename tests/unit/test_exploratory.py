"""experiments/exploratory.py: its contrasts are paired per seed, and the committed table
is what the committed runs.csv files give (the figures quoted in the docs)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("exploratory", ROOT / "experiments" / "exploratory.py")
exploratory = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(exploratory)


def test_per_seed_is_the_signed_sum_over_shared_seeds():
    tables = {
        "a": {("flex", 0): {"mean": "10"}, ("flex", 1): {"mean": "12"}, ("flex", 5): {"mean": "99"},
              ("off", 0): {"mean": "7"}, ("off", 1): {"mean": "8"}},
        "b": {("flex", 0): {"mean": "5"}, ("off", 0): {"mean": "4"}, ("flex", 1): {"mean": "6"},
              ("off", 1): {"mean": "3"}},
    }
    # (flex − off in a) − (flex − off in b): seed 0: 3 − 1 = 2, seed 1: 4 − 3 = 1; seed 5 has no partner
    terms = exploratory.gain("a", "flex", "off") + exploratory.gain("b", "flex", "off", -1)
    assert exploratory.per_seed(terms, "mean", tables) == {0: 2.0, 1: 1.0}
    # a zero coefficient only restricts the seeds
    assert exploratory.per_seed([(1, "a", "flex"), (0, "b", "flex")], "mean", tables) == {0: 10.0, 1: 12.0}


def test_unknown_group_names_it():
    with pytest.raises(SystemExit, match="nope"):
        exploratory.per_seed([(1, "a", "nope")], "mean", {"a": {("flex", 0): {"mean": "1"}}})


def test_committed_table_matches_the_committed_runs(tmp_path):
    out = tmp_path / "exploratory.md"
    exploratory.main(["--out", str(out)])
    assert out.read_text() == (ROOT / "experiments" / "results" / "exploratory.md").read_text()


def test_relative_gain_is_per_seed_ratio_minus_one_and_can_be_contrasted():
    tables = {"f": {("flex", 0): {"a": "12", "b": "55"}, ("off", 0): {"a": "10", "b": "50"},
                    ("flex", 1): {"a": "9", "b": "40"}, ("off", 1): {"a": "10", "b": "40"},
                    ("flex", 7): {"a": "1", "b": "1"}}}
    # seed 0: +20 % on a, +10 % on b; seed 1: −10 % on a, 0 % on b; seed 7 has no baseline
    assert exploratory.relative_gain("f", "flex", "off", "a", None, tables) == pytest.approx({0: 20.0, 1: -10.0})
    assert exploratory.relative_gain("f", "flex", "off", "a", "b", tables) == pytest.approx({0: 10.0, 1: -10.0})
    with pytest.raises(SystemExit, match="nope"):
        exploratory.relative_gain("f", "nope", "off", "a", None, tables)


def test_metric_value_forms_the_difference_of_two_columns():
    row = {"adverse": "30.5", "clear": "50"}
    assert exploratory.metric_value(row, "adverse − clear") == pytest.approx(-19.5)
    assert exploratory.metric_value(row, "clear") == 50.0
