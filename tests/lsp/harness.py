"""A real bai-lsp process over stdio, driven by pytest-lsp's client, and what it sent back."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls import uris
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

NOTIFICATIONS = (
    "backendai/runStarted",
    "backendai/output",
    "backendai/runFinished",
    "backendai/sessionStatus",
)


def plain(value: Any) -> Any:
    """pygls hands custom params over as namedtuple-like objects; turn them into dicts."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class Harness:
    """One server under test plus everything it notified, in arrival order."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.input_requests: list[dict[str, Any]] = []
        self.input_answers: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._changed = asyncio.Event()
        self.initialize_result: types.InitializeResult | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for method in NOTIFICATIONS:

            def record(params: Any, method: str = method) -> None:
                self.events.append((loop.time(), method, plain(params)))
                self._changed.set()

            self.client.feature(method)(record)

        @self.client.feature("backendai/input")
        async def on_input(params: Any) -> dict[str, Any] | None:
            self.input_requests.append(plain(params))
            self._changed.set()
            return await self.input_answers.get()

    def of(self, method: str, run_id: str | None = None) -> list[dict[str, Any]]:
        return [
            p
            for _, m, p in self.events
            if m == method and (run_id is None or p.get("runId") == run_id)
        ]

    def output_text(self, run_id: str, kind: str = "stdout") -> str:
        batches = self.of("backendai/output", run_id)
        return "".join(
            r.get("text") or "" for b in batches for r in b["records"] if r["type"] == kind
        )

    async def wait_for(self, check: Callable[[], Any], timeout: float = 30) -> Any:
        async def loop() -> Any:
            while True:
                value = check()
                if value:
                    return value
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

        return await asyncio.wait_for(loop(), timeout)

    async def command(self, name: str, args: dict[str, Any] | None = None) -> Any:
        result = await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=[args or {}])
        )
        return plain(result)

    def messages(self) -> list[str]:
        return [m.message for m in self.client.messages]


def server_env(state_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}
    env["BAI_LSP_STATE_DIR"] = str(state_dir)
    env.update(extra)
    return env


def capabilities(editor: str = "visual-studio-code", *, answers_input: bool = True) -> Any:
    caps = client_capabilities(editor)
    if answers_input:
        caps.experimental = {"backendai": {"input": True}}
    return caps


@contextlib.asynccontextmanager
async def start_server(
    folders: list[Path],
    *,
    state_dir: Path,
    init_options: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
    editor: str = "visual-studio-code",
    answers_input: bool = True,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Harness]:
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "bai_lsp"],
        server_env=server_env(state_dir, **(env or {})),
    )
    client = await config.start()
    assert isinstance(client, LanguageClient)
    if configuration is not None:
        client.set_configuration(configuration, section="backendai")
    harness = Harness(client)
    harness.install()
    try:
        harness.initialize_result = await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities(editor, answers_input=answers_input),
                workspace_folders=[
                    types.WorkspaceFolder(uri=uris.from_fs_path(str(f)) or "", name=f.name)
                    for f in folders
                ],
                initialization_options=init_options,
            )
        )
        yield harness
        await asyncio.wait_for(client.shutdown_session(), 60)
    finally:
        server = client._server
        if server is not None and server.returncode is None:
            server.terminate()  # the test failed before a clean shutdown
            try:
                await asyncio.wait_for(server.wait(), 10)
            except TimeoutError:
                server.kill()
        await client.stop()


def stop_shared_gateway(state_dir: Path) -> None:
    """Tests that keep sessions (onExit: keep) leave a shared gateway behind: stop it."""
    state = state_dir / "embedded-gateway.json"
    if not state.exists():
        return
    with contextlib.suppress(ValueError, OSError, KeyError):
        pid = int(json.loads(state.read_text())["pid"])
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    state.unlink(missing_ok=True)


def uri(path: Path) -> str:
    return uris.from_fs_path(str(path)) or ""


def open_doc(h: Harness, path: Path, text: str, language: str = "python") -> str:
    """Tell the server a document is open (its text need not be saved)."""
    doc_uri = uri(path)
    h.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=doc_uri, language_id=language, version=1, text=text
            )
        )
    )
    return doc_uri


def rng(l1: int, c1: int, l2: int, c2: int) -> dict[str, Any]:
    return {
        "start": {"line": l1, "character": c1},
        "end": {"line": l2, "character": c2},
    }


#: Settings for a test server with a private embedded gateway that exits with it.
PRIVATE = {"onExit": "destroy"}


def backend_available() -> bool:
    """The client and the gateway command exist (they are written in parallel with this)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("bai_lsp.backendai.client", "bai_lsp.gateway.cli")
    )


#: Marks tests that need the real client and the embedded gateway.
needs_backend = pytest.mark.skipif(
    not backend_available(), reason="bai_lsp.backendai.client or bai_lsp.gateway.cli missing"
)
