"""Packaging: the configs are found in a checkout and in an installed wheel, importing
FlexSeg changes no global state, a built wheel trains from outside the repository."""
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from flexseg._venv import _locating_flexseg_module
from flexseg.utils.conf_dir import config_dir

ROOT = Path(__file__).resolve().parents[2]


def _conf(folder: Path) -> Path:
    (folder / "conf").mkdir(parents=True)
    (folder / "conf" / "train.yaml").write_text("{}")
    return folder / "conf"


def test_config_dir_in_a_wheel_and_in_a_checkout(tmp_path):
    wheel = tmp_path / "site" / "flexseg"
    conf = _conf(wheel)
    _conf(wheel.parent)  # a conf/ next to an installed package is not ours: the package's wins
    assert config_dir(wheel) == conf  # <package>/conf
    checkout = tmp_path / "repo"
    (checkout / "flexseg").mkdir(parents=True)
    conf = _conf(checkout)
    assert config_dir(checkout / "flexseg") == conf  # <package>/../conf
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere" / "flexseg" / "conf")):
        config_dir(tmp_path / "nowhere" / "flexseg")
    assert config_dir() == ROOT / "conf"


def test_venv_hand_over_only_while_locating_a_flexseg_module():
    assert _locating_flexseg_module("-m", ["python", "-m", "flexseg.train", "seed=1"])
    assert not _locating_flexseg_module("/x/flexseg/train.py", ["python", "-m", "flexseg.train"])  # already running
    assert not _locating_flexseg_module("-m", ["python", "-m", "pytest"])
    assert not _locating_flexseg_module("script.py", ["python", "script.py"])
    assert not _locating_flexseg_module("-c", ["python", "-c", "import flexseg"])


def test_importing_flexseg_changes_no_global_state():
    code = (
        "import warnings, logging, hydra, lightning, torch, omegaconf, rich\n"
        "filters = list(warnings.filters)\n"
        "handlers = {n: list(logging.getLogger(n).filters) for n in ('lightning.pytorch.utilities.rank_zero', '')}\n"
        "import flexseg, flexseg.train, flexseg.eval, flexseg.analyze, flexseg.predict, flexseg.cli\n"
        "assert warnings.filters == filters, [f for f in warnings.filters if f not in filters]\n"
        "assert handlers == {n: list(logging.getLogger(n).filters) for n in handlers}\n"
        "print('clean')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "clean" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.slow
def test_wheel_trains_outside_the_repository(tmp_path):
    """Build the wheel, install it into a fresh venv that reuses this environment's
    packages (no download), train 2 steps from an unrelated folder, with a user config
    folder on Hydra's search path."""
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("flexseg-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    # this environment's packages (torch, hydra, ...) after the venv's own site-packages:
    # a path in a .pth file is appended without running that folder's .pth files, so a
    # development install of flexseg there stays invisible
    venv_site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    shared = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (Path(venv_site) / "_shared_env.pth").write_text("\n".join(sorted(shared)) + "\n")

    work = tmp_path / "elsewhere"
    user_conf = work / "my_conf" / "experiment"
    user_conf.mkdir(parents=True)
    (user_conf / "mine.yaml").write_text("# @package _global_\ntags: [mine]\ndata:\n  num_test: 2\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", FLEXSEG_NO_VENV="1")
    where = subprocess.run([str(py), "-c", "import flexseg; print(flexseg.__file__)"], cwd=work,
                           capture_output=True, text=True, env=env, timeout=300)
    assert where.stdout.strip().startswith(venv_site), where.stdout + where.stderr
    cmd = [str(venv / "bin" / "flexseg-train"), "trainer.max_steps=2", "test=false", "data.num_source=8",
           "data.num_generated=8", "data.height=64", "data.width=128", "data.batch_size=2",
           f"hydra.searchpath=[file://{work / 'my_conf'}]", "+experiment=mine", "hydra.run.dir=run"]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run = work / "run"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    resolved = (run / "config_resolved.yaml").read_text()
    assert "- mine" in resolved and "num_test: 2" in resolved
    assert f"data_dir: {work}/data" in resolved  # paths follow the working folder, not the install


def test_missing_optional_logger_package_is_a_clear_error(monkeypatch):
    import importlib.util

    from flexseg.build import build_loggers
    from tests.integration.test_configs import compose_cfg

    cfg = compose_cfg(["logger=wandb"])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'flexseg\[wandb\]'"):
        build_loggers(cfg)
