"""Peak resident memory of a process (itself only, not its children) over a phase.

Linux keeps the peak in ``VmHWM``; writing ``5`` to ``/proc/PID/clear_refs`` resets it, so
each phase gets its own peak. Sampling ``VmRSS`` as well covers kernels that refuse the reset.
"""

from __future__ import annotations

import asyncio
import contextlib
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


def reset_hwm(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PeakRss:
    """``async with PeakRss({'bai-lsp': pid}) as peaks: ...``; ``peaks.mb[name]`` after."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.mb: dict[str, float] = {}
        self._sampled: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PeakRss:
        for pid in self.pids.values():
            reset_hwm(pid)
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._take()
        for name, pid in self.pids.items():
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
