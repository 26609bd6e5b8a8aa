"""The paper recipes' model / loss / optimizer settings are the reference's
(experiments/README.md, "Recipe fidelity"); the embedded default keeps its own."""
import pytest

from tests.integration.test_experiments import compose_experiment

THINGS = [6, 7, 11, 12, 13, 14, 15, 16, 17, 18]


@pytest.mark.parametrize("name", ["hrda_flex", "hrda_dginstyle", "daformer_flex", "daformer_dginstyle",
                                  "ablation_modules", "aldm_flex"])
def test_recipe_model_side_is_the_reference(name):
    cfg = compose_experiment(name)
    fd, shade, optim = cfg.model.feature_distance, cfg.model.shade, cfg.optim
    assert fd.enabled and fd.weight == 0.005 and list(fd.classes) == THINGS and fd.min_ratio == 0.75
    hrda = name.startswith("hrda")
    assert shade.enabled == hrda  # DGInStyle: SHADE in the HRDA baseline (id 61), not DAFormer (id 60)
    assert shade.concentration == 0.0156 and shade.consistency_weight == 10.0 and shade.interval == 4000
    groups = optim.param_groups
    assert groups.decay_rule == "mmcv" and list(groups.no_decay_keys) == ["norm", "pos_block"]
    assert optim.optimizer._target_ == "torch.optim.AdamW" and list(optim.optimizer.betas) == [0.9, 0.999]
    assert optim.optimizer.weight_decay == 0.01 and optim.optimizer.eps == 1e-8 and groups.head_lr_mult == 10.0
    assert optim.scheduler.warmup_ratio == 1e-6 and optim.scheduler.power == 1.0 and optim.scheduler.min_lr_ratio == 0.0
    assert cfg.trainer.precision == "32-true" and cfg.trainer.gradient_clip_val is None
    assert cfg.flex.loss_normalization == "all"
    assert cfg.model.head_init == "reference" and cfg.model.dropout == 0.1
    if hrda:
        assert cfg.model.crop_positions == "reference" and cfg.model.lr_loss_weight == 0.0
        assert cfg.model.hr_loss_weight == 0.1 and cfg.model.crop_divisor == 8


def test_embedded_default_keeps_its_rules():
    from hydra import compose, initialize_config_dir

    from tests.integration.test_experiments import CONF

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train")
    assert cfg.optim.param_groups.decay_rule == "ndim" and cfg.flex.loss_normalization == "valid"
    assert cfg.optim.optimizer.lr == 2e-3 and cfg.optim.param_groups.head_lr_mult == 2.0
    assert cfg.optim.scheduler.warmup_steps == 40
    assert cfg.model.head_init == "torch" and not cfg.model.shade.enabled and not cfg.model.feature_distance.enabled
