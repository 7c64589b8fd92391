"""Mistakes a user can make that need no backend: each shows a clear message, and the
server keeps working afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp.harness import Harness, open_doc, start_server, uri


async def expect_error(h: Harness, command: str, args: dict[str, object], code: int) -> str:
    with pytest.raises(JsonRpcException) as caught:
        await h.command(command, args)
    error = caught.value
    assert error.code == code, error.message
    assert "Traceback" not in str(error.data) and "Traceback" not in error.message
    return error.message


async def test_errors_before_any_backend_is_needed(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir) as h:
        missing = uri(tmp_path / "nowhere.py")
        message = await expect_error(h, "backendai.runFile", {"uri": missing}, -32050)
        assert "nowhere.py" in message and "not open" in message

        doc = open_doc(h, tmp_path / "a.py", "x = 1\nprint(x)\n")
        message = await expect_error(
            h,
            "backendai.runSelection",
            {
                "uri": doc,
                "range": {"start": {"line": 1, "character": 3}, "end": {"line": 0, "character": 0}},
            },
            -32051,
        )
        assert "ends (line 1, column 1) before it starts (line 2, column 4)" in message

        message = await expect_error(
            h,
            "backendai.runCell",
            {"uri": doc, "position": {"line": -1, "character": 0}},
            -32602,
        )
        assert "'position' is not an LSP position" in message

        message = await expect_error(h, "backendai.runSelection", {"uri": doc}, -32602)
        assert "'range'" in message

        message = await expect_error(h, "backendai.runFile", {"uri": doc, "mode": "fast"}, -32602)
        assert '"query" or "batch"' in message

        message = await expect_error(
            h, "backendai.sendInput", {"runId": "nope", "text": "x"}, -32056
        )
        assert "nope" in message

        message = await expect_error(h, "backendai.interrupt", {"uri": doc}, -32052)
        assert "nothing to interrupt" in message

        message = await expect_error(h, "backendai.runEverything", {"uri": doc}, -32602)
        assert "'backendai.runEverything' is not defined" in message

        # the server is still fine: a valid error-free request still answers
        message = await expect_error(h, "backendai.runFile", {"uri": missing}, -32050)
        assert "nowhere.py" in message


async def test_invalid_settings_name_the_key_and_keep_the_last_good(
    tmp_path: Path, state_dir: Path
) -> None:
    async with start_server(
        [tmp_path],
        state_dir=state_dir,
        init_options={"output": {"maxBytesPerRun": "x"}},
    ) as h:
        await h.wait_for(lambda: [m for m in h.messages() if "Invalid" in m])
        shown = h.messages()[-1]
        assert 'backendai.output.maxBytesPerRun: expected a positive integer, got "x"' in shown
        doc = open_doc(h, tmp_path / "a.py", "print(1)\n")
        message = await expect_error(h, "backendai.runFile", {"uri": doc}, -32057)
        assert "maxBytesPerRun" in message

        # fixing the setting (pushed through workspace/configuration) clears the error
        h.client.set_configuration({"output": {"maxBytesPerRun": 5000}}, section="backendai")
        h.client.set_configuration(
            {"onExit": "sometimes"}, section="backendai", scope_uri=uri(tmp_path)
        )
        h.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )
        await h.wait_for(lambda: [m for m in h.messages() if "onExit" in m])
        assert (
            'backendai.onExit: expected "keep" or "destroy", got "sometimes"' in (h.messages()[-1])
        )
