"""`python -m flexseg.bench`: one tiny run end to end, the JSON it writes and its ratios."""
import json

import pytest
import torch

from flexseg import bench


@pytest.mark.slow
def test_bench_writes_every_measure(tmp_path, monkeypatch):
    real_data = bench.bench_data
    monkeypatch.setattr(bench, "bench_data", lambda height, width: real_data(num=4, height=height, width=width))
    out = tmp_path / "bench.json"
    result = bench.main(["--steps", "4", "--batch-size", "2", "--height", "64", "--width", "128",
                         "--device", "cpu", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["config"]["batch_size"] == 2 and saved["config"]["size"] == [64, 128]
    ts = saved["train_step"]
    for name in ("flex", "plain"):
        assert all(ts[name][k] > 0 for k in ("forward", "backward", "step"))
    assert ts["plain"]["has"] < ts["flex"]["has"]  # HAS bookkeeping runs in the FLEX step only
    assert ts["ratio_flex_over_plain"] == pytest.approx(ts["flex"]["step"] / ts["plain"]["step"])
    q1, q3 = ts["ratio_paired_quartiles"]
    assert 0 < q1 <= ts["ratio_paired_median"] <= q3
    assert saved["boundary_bands"]["megapixels_per_s"] > 0
    assert saved["has"]["seconds_per_batch"] > 0 and saved["data"]["images_per_s"] > 0
    assert result["train_step"] == ts


def test_recipe_mode_overrides_and_composition():
    """--recipe: the experiment with random init; HRDA's detail crop scales with a small context."""
    assert bench.recipe_overrides("daformer_flex", 512, 512, None) == ["+experiment=daformer_flex"]
    assert bench.recipe_overrides("hrda_flex", 1024, 1024, "mit_b0") == ["+experiment=hrda_flex", "model.encoder=mit_b0"]
    assert bench.recipe_overrides("hrda_flex", 256, 128, None)[-1] == "model.hr_crop_size=[128,64]"
    with pytest.raises(ValueError):
        bench.recipe_overrides("nope", 1, 1, None)
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(bench.CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*bench.recipe_overrides("hrda_flex", 256, 256, "mit_b0"),
                                                      "model.pretrained=null", *bench.PLAIN])
    # the baseline keeps the recipe's regularizers and geometry, only FLEX-Seg's modules are off
    assert cfg.model.shade.enabled and cfg.model.feature_distance.enabled and cfg.model.encoder == "mit_b0"
    assert not (cfg.flex.gap.enabled or cfg.flex.ube.enabled or cfg.flex.has.enabled)


def test_saved_activation_bytes_count_each_storage_once():
    w = torch.randn(100, requires_grad=True)
    with bench._SavedBytes() as counter:
        (w * w).sum()  # mul saves both operands: one storage of 100 float32
    assert counter.bytes == 400
    with bench._SavedBytes() as counter, torch.no_grad():
        (w * w).sum()
    assert counter.bytes == 0
