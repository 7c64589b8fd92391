"""Peak resident memory and CPU time of a process (itself only, not its children) in a phase.

Linux keeps the peak in ``VmHWM``; writing ``5`` to ``/proc/PID/clear_refs`` resets it, so
each phase gets its own peak. Sampling ``VmRSS`` as well covers kernels that refuse the reset.
CPU time is ``utime + stime`` from ``/proc/PID/stat``: it tells a process that is the
bottleneck (near 100 % of a core) from one that is starved or waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

SAMPLE_INTERVAL = 0.05


def _status_kib(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def rss_mb(pid: int) -> float | None:
    kib = _status_kib(pid, "VmRSS")
    return None if kib is None else kib / 1024


def hwm_mb(pid: int) -> float | None:
    kib = _status_kib(pid, "VmHWM")
    return None if kib is None else kib / 1024


def cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_hwm(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PeakRss:
    """``async with PeakRss({'bai-lsp': pid}) as peaks: ...``; then ``peaks.mb[name]`` and
    ``peaks.cpu[name]`` (CPU seconds per wall-clock second: 1.0 = one core busy)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.mb: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._cpu_start: dict[str, float | None] = {}
        self._wall_start = 0.0
        self._sampled: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PeakRss:
        for name, pid in self.pids.items():
            reset_hwm(pid)
            self._cpu_start[name] = cpu_seconds(pid)
        self._wall_start = time.perf_counter()
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._take()
        wall = time.perf_counter() - self._wall_start
        for name, pid in self.pids.items():
            began, ended = self._cpu_start.get(name), cpu_seconds(pid)
            if began is not None and ended is not None and wall > 0:
                self.cpu[name] = (ended - began) / wall
            peak = max(hwm_mb(pid) or 0.0, self._sampled.get(name, 0.0))
            self.mb[name] = peak

    def _take(self) -> None:
        for name, pid in self.pids.items():
            value = rss_mb(pid)
            if value is not None and value > self._sampled.get(name, 0.0):
                self._sampled[name] = value

    async def _sample(self) -> None:
        while True:
            self._take()
            await asyncio.sleep(SAMPLE_INTERVAL)
