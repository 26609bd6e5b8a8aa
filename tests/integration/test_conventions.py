"""Template conventions: run length independent of the hardware config, the debug group,
the extras (config tree, quiet console), the progress bar, checkpoints that carry their
config (eval / analyze / predict need only ckpt_path=), imports that run one way (no
cycle, down the declared layers)."""
import ast
import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf, open_dict

from tests.integration.test_configs import CONF, compose_cfg
from tests.integration.test_train import TINY

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp"])
def test_hardware_config_keeps_the_run_length(trainer):
    assert compose_cfg([f"trainer={trainer}"]).trainer.max_steps == compose_cfg().trainer.max_steps == 800


def _sets_max_steps(name: str) -> bool:
    raw = OmegaConf.load(CONF / "experiment" / f"{name}.yaml")
    if OmegaConf.select(raw, "trainer.max_steps") is not None:
        return True
    parents = [d for d in raw.get("defaults", []) if isinstance(d, str) and d != "_self_"]
    return any(_sets_max_steps(p) for p in parents)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_recipe_sets_its_length(name):
    assert _sets_max_steps(name), f"conf/experiment/{name}.yaml (or the recipe it extends) must set trainer.max_steps"
    cpu = compose_cfg([f"+experiment={name}", "trainer=cpu"]).trainer.max_steps
    gpu = compose_cfg([f"+experiment={name}", "trainer=gpu"]).trainer.max_steps
    assert cpu == gpu


@pytest.mark.parametrize("name", ["eval", "analyze", "predict"])
def test_inference_commands_use_a_gpu_when_present(name):
    cfg = compose_cfg(["ckpt_path=x", "input=x", "output=x"] if name == "predict" else ["ckpt_path=x"], name=name)
    assert cfg.trainer.accelerator == "auto"
    assert compose_cfg(["ckpt_path=x", "trainer=cpu"], name="eval").trainer.accelerator == "cpu"


@pytest.mark.parametrize("name", ["eval", "analyze"])
def test_a_missing_checkpoint_is_named(tmp_path, name):
    from flexseg.analyze import analyze
    from flexseg.eval import evaluate

    cfg = compose_cfg([*TINY, f"ckpt_path={tmp_path / 'nope.ckpt'}"], name=name)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        {"eval": evaluate, "analyze": analyze}[name](cfg)


@pytest.mark.parametrize("name", ["default", "fdr", "overfit", "limit", "profiler", "detect_anomaly"])
def test_debug_configs_write_under_logs_debugs(name):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"debug={name}"], return_hydra_config=True)
    dirs = OmegaConf.to_container(cfg.hydra, resolve=False)
    assert dirs["run"]["dir"].startswith("${paths.log_dir}/debugs/runs/")
    assert dirs["sweep"]["dir"].startswith("${paths.log_dir}/debugs/multiruns/")
    assert cfg.trainer.accelerator == "cpu" and cfg.data.num_workers == 0
    assert cfg.trainer.max_steps < 800
    assert list(cfg.logger) == ["csv"]
    expected = {"fdr": ("fast_dev_run", True), "overfit": ("overfit_batches", 3), "detect_anomaly": ("detect_anomaly", True)}
    if name in expected:
        key, value = expected[name]
        assert cfg.trainer[key] == value
    if name == "profiler":
        assert cfg.trainer.profiler._target_.endswith("SimpleProfiler")


def test_debug_fdr_trains_and_tests_one_batch(tmp_path):
    from flexseg.train import train

    cfg = compose_cfg([*TINY, "debug=fdr"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    summary = train(cfg)
    assert set(summary["miou"]) == {"clear", "fog", "night", "rain", "snow"}


def test_config_tree_and_saved_config(tmp_path, capsys):
    from flexseg.utils.extras import apply_extras

    cfg = compose_cfg(["seed=7", "data.batch_size=3"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    apply_extras(cfg)
    out = capsys.readouterr().out
    assert "CONFIG" in out and "batch_size: 3" in out
    # data first, then model, as in TREE_ORDER
    assert out.index("data") < out.index("model") < out.index("trainer")
    saved = OmegaConf.load(tmp_path / "config_resolved.yaml")
    assert saved.seed == 7 and saved.data.batch_size == 3
    assert saved.data.train_sets.source.seed == 7  # interpolations resolved
    assert "batch_size: 3" in (tmp_path / "config_tree.log").read_text()
    with open_dict(cfg):
        cfg.extras.print_config = False
    apply_extras(cfg)
    assert "CONFIG" not in capsys.readouterr().out


def test_quiet_drops_lightning_tips_and_deprecations():
    from flexseg.utils.extras import quiet_third_party

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party()
        warnings.warn("old api", FutureWarning, stacklevel=1)
        warnings.warn("old api", DeprecationWarning, stacklevel=1)
        warnings.warn("a real problem", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a real problem"]
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    handler = Keep()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        logger.info("💡 Tip: install our cloud product")
        logger.info("GPU available: False, used: False")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert records == ["GPU available: False, used: False"]


def test_progress_bar_follows_the_whole_run(tmp_path):
    """Two epochs of 3 batches, max_steps 5: the bar ends at 5/5, not at one epoch's 2/3."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from flexseg.progress import StepProgressBar

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch, batch_idx):
            return (self.w - batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class Recorded(StepProgressBar):
        seen: list = []

        def on_train_batch_end(self, *args):
            super().on_train_batch_end(*args)
            task = self.progress.tasks[self.train_progress_bar_id]
            self.seen.append((task.completed, task.total, task.description))

    bar = Recorded()
    trainer = L.Trainer(max_steps=5, max_epochs=-1, callbacks=[bar], logger=False, enable_checkpointing=False,
                        enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(Tiny(), DataLoader(TensorDataset(torch.ones(3, 1)), batch_size=1))
    assert [(c, t) for c, t, _ in bar.seen] == [(s, 5) for s in range(1, 6)]  # one bar, never reset
    assert "Epoch 0 · max 5 steps" in bar.seen[0][2] and "Epoch 1 · max 5 steps" in bar.seen[-1][2]


def test_checkpoint_carries_its_config(tmp_path):
    """Trained with a non-default network and data; eval composed with its defaults takes
    them from the checkpoint, a command-line override still wins."""
    from flexseg.eval import evaluate
    from flexseg.train import train
    from flexseg.utils.ckpt_config import CONFIG_KEY, apply_checkpoint_config, read_checkpoint_config

    cfg = compose_cfg([*TINY, "trainer=debug", "model.embed_dim=16", "flex.kernel_sizes=[3,7,9]",
                       "trainer.limit_test_batches=null"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "train")
    trained = train(cfg)
    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"
    stored = read_checkpoint_config(ckpt)
    assert stored["resolved"]["model"]["embed_dim"] == 16
    assert stored["composed"]["data"]["train_sets"]["source"]["seed"] == "${seed}"
    assert CONFIG_KEY in torch.load(ckpt, map_location="cpu", weights_only=False)

    ecfg = compose_cfg([f"ckpt_path={ckpt}"], name="eval")
    assert ecfg.model.embed_dim == 32 and ecfg.data.height == 128  # eval's own defaults
    with open_dict(ecfg):
        ecfg.paths.output_dir = str(tmp_path / "eval")
    apply_checkpoint_config(ecfg, overrides=[f"ckpt_path={ckpt}"])
    assert ecfg.model.embed_dim == 16 and list(ecfg.flex.kernel_sizes) == [3, 7, 9]
    assert ecfg.data.height == 64 and ecfg.data.num_test == 4
    summary = evaluate(ecfg)  # strict weight loading: fails with eval's default network
    for domain, value in trained["miou"].items():
        assert summary["miou"][domain] == pytest.approx(value, abs=1e-9)

    override = compose_cfg([f"ckpt_path={ckpt}", "data.num_test=2"], name="eval")
    apply_checkpoint_config(override, overrides=[f"ckpt_path={ckpt}", "data.num_test=2"])
    assert override.data.num_test == 2 and override.data.height == 64
    chosen = compose_cfg([f"ckpt_path={ckpt}", "model=daformer_mitb1"], name="eval")
    apply_checkpoint_config(chosen, overrides=[f"ckpt_path={ckpt}", "model=daformer_mitb1"])
    assert chosen.model.encoder == "mit_b1" and chosen.data.height == 64  # the group chosen wins


def test_checkpoint_without_config_keeps_the_command_config(tmp_path):
    from flexseg.utils.ckpt_config import apply_checkpoint_config

    path = tmp_path / "mmseg.pth"
    torch.save({"meta": {}, "state_dict": {}}, path)
    cfg = compose_cfg([f"ckpt_path={path}"], name="eval")
    before = OmegaConf.to_container(cfg)
    assert OmegaConf.to_container(apply_checkpoint_config(cfg, overrides=[])) == before


@pytest.mark.slow
def test_eval_cli_needs_only_ckpt_path(tmp_path):
    from flexseg.train import train

    cfg = compose_cfg([*TINY, "trainer=debug", "model.embed_dim=16", "data.num_test=2"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "train")
    train(cfg)
    run = tmp_path / "eval"
    cmd = [sys.executable, "-m", "flexseg.eval", f"ckpt_path={tmp_path / 'train' / 'checkpoints' / 'last.ckpt'}",
           f"hydra.run.dir={run}", "trainer=cpu"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "embed_dim: 16" in (run / "config_resolved.yaml").read_text()
    assert set(json.loads((run / "results.json").read_text())["miou"]) == {"clear", "fog", "night", "rain", "snow"}
    assert "💡 Tip" not in proc.stdout + proc.stderr and "FutureWarning" not in proc.stderr


# ------------------------------------------------------------------ one-way imports (issue 29)
PACKAGE = ROOT / "flexseg"

#: The package's layers, lowest first. A module may import modules of its own layer or of
#: a lower one, never of a higher one. An entry names a module, or with ``.*`` a package and
#: every module below it; the longest entry that matches a module decides its layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # facts and pure functions that import nothing of FlexSeg's (bar the class tables)
    ("protocol", ("flexseg", "flexseg._venv", "flexseg.protocol", "flexseg.stats", "flexseg.metrics",
                  "flexseg.data.labels", "flexseg.data.classes")),
    ("utils", ("flexseg.utils.*", "flexseg.progress", "flexseg.submission")),
    # the method's math (no Lightning): GAP, UBE, HAS, the boundaries
    ("flex", ("flexseg.flex.*",)),
    # datasets, synthdrive, samplers, the datamodule (which draws batches with HAS), generation
    ("data", ("flexseg.data.*", "flexseg.generation.*")),
    ("models", ("flexseg.models.*",)),
    # what puts a run together: the LightningModule, optimizer, builders, checkpoints
    ("assembly", ("flexseg.module", "flexseg.optim", "flexseg.build", "flexseg.checks", "flexseg.checkpoint",
                  "flexseg.callbacks")),
    ("reporting", ("flexseg.report.*", "flexseg.analysis.*")),
    ("commands", ("flexseg.train", "flexseg.eval", "flexseg.analyze", "flexseg.predict", "flexseg.bench", "flexseg.export",
                  "flexseg.generate")),
    ("dispatcher", ("flexseg.cli",)),
)


def package_modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package (``__init__`` = the package)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module → the FlexSeg modules it imports: at module level, inside functions and under
    ``TYPE_CHECKING`` alike. ``from a import b`` is an import of module ``a.b`` when that is
    a module, else of ``a``; ``import a.b.c`` of the longest existing module ``a.b[.c]``.
    The parent packages Python initializes on the way are not counted."""

    def longest(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(longest(a.name) for a in node.names if a.name.split(".")[0] == "flexseg")
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the package holding this module
                    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                if source.split(".")[0] != "flexseg":
                    continue
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    targets.add(full if full in modules else longest(source))
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, …, a]``), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def layer_of(module: str) -> int | None:
    """Index in :data:`LAYERS` of the longest entry naming ``module`` (or, ``pkg.*``, a package above it)."""
    best: tuple[int, int] | None = None  # (length of the entry, layer)
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            package = entry.removesuffix(".*")
            matches = module == package or (entry.endswith(".*") and module.startswith(package + "."))
            if matches and (best is None or len(package) > best[0]):
                best = (len(package), index)
    return None if best is None else best[1]


def test_the_import_graph_reader_sees_every_kind_of_import(tmp_path):
    pkg = tmp_path / "flexseg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("import flexseg.sub.b\nfrom flexseg.sub import c\nimport os\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from flexseg.a import x\n")
    (pkg / "sub" / "c.py").write_text("def f():\n    from ..sub.b import y\n    from flexseg import a\n")
    graph = import_graph(package_modules(pkg))
    assert graph == {"flexseg": set(), "flexseg.sub": {"flexseg.sub.b"}, "flexseg.a": {"flexseg.sub.b", "flexseg.sub.c"},
                     "flexseg.sub.b": {"flexseg.a"}, "flexseg.sub.c": {"flexseg.sub.b", "flexseg.a"}}
    assert find_cycle(graph) == ["flexseg.a", "flexseg.sub.b", "flexseg.a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_cycle():
    """No circle among FlexSeg's modules (issue 29: cli ↔ the commands, report.discovery ↔
    report.results were two): a module imports only what is already complete without it."""
    cycle = find_cycle(import_graph(package_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_imports_run_down_the_declared_layers():
    """Every module belongs to a layer of :data:`LAYERS`, and imports only from its own layer
    or lower ones (issue 29: utils.console / utils.wandb_run imported flexseg.report, utils.config
    flexseg.flex.has). A new module or package is added to a layer here."""
    modules = package_modules()
    unplaced = sorted(m for m in modules if layer_of(m) is None)
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}"
    upward = [
        f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
        for m, targets in sorted(import_graph(modules).items()) for t in sorted(targets)
        if layer_of(t) > layer_of(m)
    ]
    assert not upward, "imports from a lower layer into a higher one:\n" + "\n".join(upward)


def test_old_import_paths_of_the_protocol_and_the_entry_point_still_work():
    from flexseg import cli, protocol, report
    from flexseg.report import results
    from flexseg.utils import entry

    for name in ("REAL_AVERAGES", "REAL_DOMAINS", "SYNTH_ADVERSE", "averages", "canonical_domain"):
        assert getattr(report, name) is getattr(results, name) is getattr(protocol, name)
    assert cli.run is entry.run
