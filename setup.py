"""Packaging hook: ship the repository's top-level ``conf/`` inside the package as
``flexseg/conf`` (with every config group below it), so that an installed wheel finds
its configs. Metadata, dependencies and commands are in ``pyproject.toml``;
``flexseg.utils.conf_dir`` finds them at run time (README.md, "Install")."""
from pathlib import Path

from setuptools import find_packages, setup

CONF = Path(__file__).resolve().parent / "conf"
conf_packages = ["flexseg.conf"] + sorted(
    "flexseg.conf." + ".".join(d.relative_to(CONF).parts) for d in CONF.rglob("*") if d.is_dir()
)

setup(
    packages=[*find_packages(include=["flexseg", "flexseg.*"]), *conf_packages],
    package_dir={"flexseg.conf": "conf"},
    package_data={"flexseg": ["py.typed"], **{p: ["*.yaml"] for p in conf_packages}},
)
