"""Each gateway process's own folder for session folders, and sweeping crashed ones.

A gateway keeps its sessions under ``<data-dir>/sessions/gw-<pid>/`` and holds an
``flock`` on ``gw-<pid>.lock`` for as long as it runs. A gateway that was killed without a
chance to clean up leaves its folder behind; the next gateway on the same data folder
finds the lock free and removes that folder. Several gateways can share a data folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


class ScratchRoot:
    def __init__(self, sessions_dir: Path) -> None:
        self.sessions_dir = sessions_dir
        self.root = sessions_dir / f"gw-{os.getpid()}"
        self._lock_path = sessions_dir / f"gw-{os.getpid()}.lock"
        self._lock_fd: int | None = None

    def acquire(self) -> None:
        """Create and lock this process's folder, then sweep stale ones (blocking)."""
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd
        self.root.mkdir(exist_ok=True)
        self.sweep()

    def sweep(self) -> None:
        for lock in self.sessions_dir.glob("gw-*.lock"):
            if lock == self._lock_path:
                continue
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # its gateway is alive
            try:
                stale = lock.with_suffix("")
                log.info("removing session folders left by a gateway that died: %s", stale)
                shutil.rmtree(stale, ignore_errors=True)
                with contextlib.suppress(OSError):
                    lock.unlink()
            finally:
                os.close(fd)

    def release(self) -> None:
        """Remove this process's folder (its sessions are gone) and drop the lock."""
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                self._lock_path.unlink()
            os.close(self._lock_fd)
            self._lock_fd = None
