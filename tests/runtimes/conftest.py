"""Real runtimes (kernels, shells, compilers) driven directly, without HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from bai_lsp.gateway.runtimes import ImageTable, SessionRuntime, create_runtime
from bai_lsp.wire.execute import ExecutionResult

CANARY_NAME = "BACKEND_SECRET_KEY"
CANARY_VALUE = "canary-secret-4c1d6f0e9b"


@attrs.define
class Transcript:
    """Every poll of one run, as a client would have seen them."""

    polls: list[ExecutionResult]

    @property
    def statuses(self) -> list[str]:
        return [p.status for p in self.polls]

    @property
    def final(self) -> ExecutionResult:
        return self.polls[-1]

    @property
    def run_id(self) -> str | None:
        return self.polls[0].run_id

    def records(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for poll in self.polls:
            for r in poll.console:
                out.append((r.type, (r.mime, r.data) if r.type == "media" else r.text))
        return out

    def text(self, kind: str = "stdout") -> str:
        return "".join(r.text for p in self.polls for r in p.console if r.type == kind)

    def media(self) -> list[tuple[str | None, str | None]]:
        return [(r.mime, r.data) for p in self.polls for r in p.console if r.type == "media"]


Drive = Callable[..., Awaitable[Transcript]]


async def drive_run(
    rt: SessionRuntime,
    mode: str,
    code: str = "",
    options: dict[str, Any] | None = None,
    *,
    inputs: Sequence[str] = (),
    flush_timeout: float = 2.0,
    max_polls: int = 2000,
) -> Transcript:
    """Run to ``finished`` the way the SDK does: continue, and answer input prompts."""
    pending = list(inputs)
    result = await rt.execute(mode, None, code, options, flush_timeout)
    polls = [result]
    while result.status != "finished":
        assert len(polls) < max_polls, f"run did not finish: {polls[-3:]}"
        if result.status == "waiting-input":
            assert pending, f"unexpected input request: {result}"
            result = await rt.execute("input", result.run_id, pending.pop(0), None, flush_timeout)
        else:
            result = await rt.execute("continue", result.run_id, "", None, flush_timeout)
        polls.append(result)
    return Transcript(polls)


@pytest.fixture
def drive() -> Drive:
    return drive_run


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret in the gateway's environment that no session process may see."""
    monkeypatch.setenv(CANARY_NAME, CANARY_VALUE)
    monkeypatch.setenv("BACKEND_ACCESS_KEY", "AKIACANARYACCESSKEY")
    monkeypatch.setenv("SOME_API_TOKEN", CANARY_VALUE + "-token")
    return CANARY_VALUE


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


async def _runtime(image: str, workdir: Path) -> SessionRuntime:
    spec = ImageTable.load(None).resolve(image)
    assert spec is not None
    rt = create_runtime(spec, workdir, {"SESSION_VAR": "from-session"})
    await rt.start()
    return rt


@pytest.fixture
async def python_rt(workdir: Path, canary: str) -> AsyncIterator[SessionRuntime]:
    rt = await _runtime("cr.backend.ai/stable/python:3.9-ubuntu20.04", workdir)
    yield rt
    await rt.shutdown()


@pytest.fixture
async def make_rt(workdir: Path, canary: str) -> AsyncIterator[Callable[[str], Awaitable[Any]]]:
    made: list[SessionRuntime] = []

    async def make(image: str) -> SessionRuntime:
        rt = await _runtime(image, workdir)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        await rt.shutdown()


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def own_fd_target(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")
