"""Fixtures shared by the unit tests."""
import pytest


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """A small GTA tree (6 frames, with ``prepare``'s class statistics) and a generated tree
    (4 images), 32×18, for the rare-class sampling tests (test_rcs.py, test_call_sites.py)."""
    from flexseg.data.prepare import class_stats
    from tests.data.fixtures import write_tree

    root = tmp_path_factory.mktemp("rcs")
    write_tree("gta", root / "gta", n=6, size=(32, 18))
    write_tree("generated", root / "gen", n=4, size=(32, 18))
    class_stats("gta", root / "gta", "all")
    return root
