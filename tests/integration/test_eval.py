"""python -m flexseg.eval: checkpoint → per-domain table, paper-style averages."""
import json

import pytest
from omegaconf import open_dict

from flexseg.eval import evaluate, write_tables
from tests.integration.test_configs import compose_cfg
from tests.integration.test_train import TINY


def test_eval_reproduces_the_training_run_metrics(tmp_path):
    from flexseg.train import train

    cfg = compose_cfg([*TINY, "trainer=debug", "trainer.limit_test_batches=null"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "train")
    trained = train(cfg)
    ecfg = compose_cfg([*TINY, f"ckpt_path={tmp_path / 'train' / 'checkpoints' / 'last.ckpt'}"], name="eval")
    with open_dict(ecfg):
        ecfg.paths.output_dir = str(tmp_path / "eval")
    summary = evaluate(ecfg)
    for domain, value in trained["miou"].items():
        assert summary["miou"][domain] == pytest.approx(value, abs=1e-9)
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved["averages"]["mean"] == pytest.approx(saved["mean"])
    assert (tmp_path / "eval" / "results.md").read_text().startswith("## mIoU")


def _result(miou):
    return {"miou": miou, "acc": 0.9, "boundary_acc": 0.5, "interior_acc": 0.95, "iou": {"road": miou}}


def test_paper_table_averages_from_per_dataset_values(tmp_path):
    values = {"acdc": 0.40, "dark_zurich": 0.20, "cityscapes": 0.60, "bdd100k": 0.50, "mapillary": 0.55}
    avgs = write_tables({d: _result(v) for d, v in values.items()}, tmp_path)
    assert avgs["Avg2"] == pytest.approx(0.30)
    assert avgs["Avg3"] == pytest.approx(0.55)
    assert avgs["Avg5"] == pytest.approx(sum(values.values()) / 5)
    md = (tmp_path / "results.md").read_text()
    assert "| ACDC | DZ | CS | BDD | MV | Avg2 | Avg3 | Avg5 |" in md
    assert "| 40.00 | 20.00 | 60.00 | 50.00 | 55.00 | 30.00 | 55.00 | 45.00 |" in md
