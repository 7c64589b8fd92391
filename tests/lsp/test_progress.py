"""Work-done progress for session creation and batch uploads, and cancelling it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp.harness import PRIVATE, needs_backend, open_doc, start_server, uri

pytestmark = needs_backend


def titles(client: object) -> list[str]:
    reports = getattr(client, "progress_reports", {})
    return [
        r.title
        for token in reports
        for r in reports[token]
        if isinstance(r, types.WorkDoneProgressBegin)
    ]


async def test_session_creation_and_upload_report_progress(tmp_path: Path, state_dir: Path) -> None:
    (tmp_path / "util.py").write_text("X = 1\n")
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "main.py", "import util\nprint(util.X)\n")
        result = await h.command("backendai.runFile", {"uri": doc, "mode": "batch"})
        assert result["status"] == "finished"
        shown = titles(h.client)
        assert any(t.startswith("Starting Backend.AI session bai-") for t in shown)
        assert "Uploading 2 files" in shown
        for token, reports in h.client.progress_reports.items():
            assert isinstance(reports[-1], types.WorkDoneProgressEnd), token


async def test_cancelling_session_creation(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        pending = asyncio.ensure_future(
            h.command("backendai.session.start", {"uri": uri(tmp_path)})
        )
        tokens = await h.wait_for(lambda: list(h.client.progress_reports))
        h.client.window_work_done_progress_cancel(
            types.WorkDoneProgressCancelParams(token=tokens[0])
        )
        with pytest.raises(JsonRpcException) as caught:
            await pending
        assert caught.value.code == -32800
        assert "cancelled" in caught.value.message
        statuses = h.of("backendai/sessionStatus")
        assert statuses[-1]["status"] == "error"
        # starting again works
        again = await h.command("backendai.session.start", {"uri": uri(tmp_path)})
        assert again["status"] == "idle"
