"""W&B run lifecycle helpers: run ids (new / continued), summary metrics, finishing."""
import json

import pytest
from omegaconf import OmegaConf

from flexseg.utils.wandb_run import RUN_ID_FILE, assign_run_ids, finish_runs, summary_metrics, write_summary


def _cfg(**wandb):
    return OmegaConf.create({"logger": {
        "csv": {"_target_": "lightning.pytorch.loggers.CSVLogger"},
        "wandb": {"_target_": "lightning.pytorch.loggers.WandbLogger", "project": "p", **wandb}}})


def test_new_run_gets_a_fresh_id_and_resume_reuses_the_stored_one(tmp_path):
    pytest.importorskip("wandb")
    first = _cfg()
    ids = assign_run_ids(first, tmp_path, resuming=False)
    assert set(ids) == {"wandb"} and first.logger.wandb.id == ids["wandb"] and "resume" not in first.logger.wandb
    assert json.loads((tmp_path / RUN_ID_FILE).read_text()) == ids
    resumed = _cfg()
    assert assign_run_ids(resumed, tmp_path, resuming=True) == ids
    assert resumed.logger.wandb.resume == "allow"
    fresh = _cfg()  # same directory, not resuming: a different W&B run
    assert assign_run_ids(fresh, tmp_path, resuming=False)["wandb"] != ids["wandb"]
    assert "csv" not in json.loads((tmp_path / RUN_ID_FILE).read_text())


def test_explicit_id_wins_and_no_wandb_writes_nothing(tmp_path):
    pytest.importorskip("wandb")
    cfg = _cfg(id="abc123")
    assert assign_run_ids(cfg, tmp_path, resuming=False) == {"wandb": "abc123"}
    assert cfg.logger.wandb.resume == "allow"
    empty = tmp_path / "none"
    empty.mkdir()
    assert assign_run_ids(OmegaConf.create({"logger": {"csv": {"_target_": "x.CSVLogger"}}}), empty, True) == {}
    assert not (empty / RUN_ID_FILE).exists()


def test_corrupt_id_file_is_a_clear_error(tmp_path):
    pytest.importorskip("wandb")
    (tmp_path / RUN_ID_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=RUN_ID_FILE):
        assign_run_ids(_cfg(), tmp_path, resuming=True)


def _result(miou):
    return {"miou": miou, "acc": 0.9, "boundary_acc": 0.5, "interior_acc": 0.95, "iou": {"road": miou + 0.1}}


def test_summary_has_paper_averages_for_real_targets():
    results = {"acdc": _result(0.4), "dark_zurich": _result(0.2), "cityscapes": _result(0.5),
               "bdd100k": _result(0.6), "mapillary": _result(0.7)}
    m = summary_metrics(results)
    assert m["test/Avg2"] == pytest.approx(0.3) and m["test/Avg3"] == pytest.approx(0.6)
    assert m["test/Avg5"] == pytest.approx(0.48)
    assert m["test/dark_zurich/miou"] == 0.2 and m["test/acdc/iou/road"] == pytest.approx(0.5)
    assert m["test/mapillary/boundary_acc"] == 0.5 and "test/mean" not in m
    synth = summary_metrics({"clear": _result(0.6), "fog": _result(0.2), "night": _result(0.4)})
    assert synth["test/mean"] == pytest.approx(0.4) and synth["test/adverse"] == pytest.approx(0.3)
    assert "test/Avg5" not in synth


class WandbLogger:  # stand-in with the class name the helpers look for
    def __init__(self, run):
        self._experiment = run


class _Run:
    def __init__(self):
        self.summary, self.finished, self._is_finished = {}, [], False

    def finish(self, exit_code=None):
        self.finished.append(exit_code)
        self._is_finished = True


def test_write_summary_and_finish_once():
    run, other = _Run(), _Run()
    loggers = [WandbLogger(run), WandbLogger(None), object()]
    write_summary(loggers, {"clear": _result(0.6)})
    assert run.summary["test/clear/miou"] == 0.6 and run.summary["test/mean"] == pytest.approx(0.6)
    assert finish_runs(loggers, exit_code=1) == 1 and finish_runs(loggers) == 0
    assert run.finished == [1] and other.finished == []
