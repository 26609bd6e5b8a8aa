"""`tf32`: the paper recipes train in plain fp32 (no TF32), as the reference; the default allows it."""
import pytest
import torch

from tests.integration.test_configs import compose_cfg


@pytest.mark.parametrize("recipe", ["hrda_flex", "daformer_flex", "hrda_dginstyle", "daformer_dginstyle",
                                    "aldm_flex", "ablation_modules"])
def test_paper_recipes_turn_tf32_off(recipe):
    assert compose_cfg([f"+experiment={recipe}"]).tf32 is False
    assert compose_cfg().tf32 is True


def test_set_tf32_sets_matmul_and_cudnn_flags():
    from flexseg.utils.precision import set_tf32

    before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    try:
        set_tf32(False)
        assert torch.get_float32_matmul_precision() == "highest" and torch.backends.cudnn.allow_tf32 is False
        set_tf32(True)
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cudnn.allow_tf32 = before[1]


def test_eval_follows_the_checkpoint_run_unless_told(tmp_path):
    from omegaconf import OmegaConf

    from flexseg.eval import eval_tf32
    from flexseg.utils.ckpt_config import CONFIG_KEY

    ckpt = tmp_path / "last.ckpt"
    torch.save({CONFIG_KEY: {"resolved": {"tf32": False}, "composed": {}}}, ckpt)
    assert eval_tf32(OmegaConf.create({"ckpt_path": str(ckpt), "tf32": None})) is False
    assert eval_tf32(OmegaConf.create({"ckpt_path": str(ckpt), "tf32": True})) is True
    torch.save({"state_dict": {}}, ckpt)  # no stored config (mmseg / older checkpoints): TF32 allowed
    assert eval_tf32(OmegaConf.create({"ckpt_path": str(ckpt), "tf32": None})) is True
