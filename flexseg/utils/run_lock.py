"""One training process per run directory: an advisory lock on ``<run dir>/.flexseg.lock``.

Two processes training into the same run directory (a sweep started twice, a job launched
again while the first still runs) would overwrite each other's checkpoints, CSV logs and
results. The first process takes an exclusive ``fcntl.flock`` on the lock file and holds it
until :func:`flexseg.train.train` returns or the process dies (the kernel releases it: no
stale lock after a crash, a kill or a preempted job); a second process stops at once with a
:class:`~flexseg.utils.config.ConfigError` naming the holder's pid.

Hydra has written ``.hydra/`` and opened the run's log before :func:`flexseg.train.train`
runs, so a refused second launch leaves its own config record there (the same one when it
has the same command line, as a sweep started twice does); checkpoints, metrics and results
are untouched.

Only the first process of a distributed run takes it (its other ranks belong to the same
run). Where the filesystem or platform has no ``flock`` the run goes on with a warning.
"""
from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from flexseg.utils.config import ConfigError

try:
    import fcntl
except ImportError:  # not POSIX (Windows)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_NAME = ".flexseg.lock"

#: variables through which launchers (Lightning, torchrun, SLURM, jsrun) give a process its rank
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def is_first_process() -> bool:
    """False when any launcher's rank variable names a rank other than 0."""
    for key in RANK_VARIABLES:
        value = os.environ.get(key, "").strip()
        if value and value.lstrip("-").isdigit() and int(value) != 0:
            return False
    return True


@contextmanager
def run_dir_lock(output_dir: str | os.PathLike) -> Iterator[None]:
    """Hold the run directory's lock for the ``with`` block.

    Raises:
        ConfigError: another live process holds the lock of ``output_dir``.
    """
    if fcntl is None or not is_first_process():
        yield
        return
    handle = open(Path(output_dir) / LOCK_NAME, "a+")  # noqa: SIM115 - held open for the whole block
    try:
        _acquire(handle, output_dir)
        yield
    finally:
        handle.close()  # closing the file releases the lock


def _acquire(handle: IO[str], output_dir: str | os.PathLike) -> None:
    """Take the exclusive lock on the open lock file and write this pid into it."""
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            log.warning("no lock on %s (%s): make sure no other process trains into %s", handle.name, err, output_dir)
            return
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        raise ConfigError(
            f"another process (pid {holder}) is training into {output_dir}: wait for it to finish or stop "
            f"it, then rerun (resume=true continues from its last.ckpt), or choose another hydra.run.dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
