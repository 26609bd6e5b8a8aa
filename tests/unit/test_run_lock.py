"""One training process per run directory (flexseg/utils/run_lock.py)."""
import errno
import os
import subprocess
import sys
import textwrap

import pytest

from flexseg.utils import run_lock
from flexseg.utils.config import ConfigError
from flexseg.utils.run_lock import LOCK_NAME, RANK_VARIABLES, is_first_process, run_dir_lock

pytestmark = pytest.mark.skipif(run_lock.fcntl is None, reason="flock is POSIX-only")


@pytest.fixture(autouse=True)
def _rank_zero(monkeypatch):
    for key in RANK_VARIABLES:
        monkeypatch.delenv(key, raising=False)


def test_second_holder_is_refused_with_the_first_pid(tmp_path):
    with run_dir_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
        with pytest.raises(ConfigError, match=rf"pid {os.getpid()}\).*{tmp_path}.*resume=true"):
            with run_dir_lock(tmp_path):
                pass
    with run_dir_lock(tmp_path):  # released on exit: the directory can be trained into again
        pass


def test_released_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError):
        with run_dir_lock(tmp_path):
            raise RuntimeError("training failed")
    with run_dir_lock(tmp_path):
        pass


def test_lock_of_another_live_process_and_its_death(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from flexseg.utils.run_lock import run_dir_lock
            with run_dir_lock({str(tmp_path)!r}):
                print("locked", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=rf"pid {holder.pid}\)"):
            with run_dir_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_dir_lock(tmp_path):  # a killed holder leaves no stale lock
        pass


@pytest.mark.parametrize("key", RANK_VARIABLES)
def test_other_ranks_of_a_distributed_run_take_no_lock(tmp_path, monkeypatch, key):
    assert is_first_process()
    with run_dir_lock(tmp_path):
        monkeypatch.setenv(key, "1")
        assert not is_first_process()
        with run_dir_lock(tmp_path):  # rank 1 of the same run: no lock, no error
            pass
        monkeypatch.setenv(key, "0")
        assert is_first_process()


def test_filesystem_without_flock_warns_and_goes_on(tmp_path, monkeypatch, caplog):
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_lock.fcntl, "flock", no_locks)
    with caplog.at_level("WARNING", logger="flexseg.utils.run_lock"), run_dir_lock(tmp_path):
        pass
    assert "no lock on" in caplog.text and str(tmp_path) in caplog.text
