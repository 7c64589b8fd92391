"""Query-mode runs end to end: editor ⇄ bai-lsp (stdio) ⇄ embedded gateway ⇄ ipykernel."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp.harness import PRIVATE, Harness, needs_backend, open_doc, rng, start_server

# A 1x1 red PNG.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJ"
    "RU5ErkJggg=="
)

pytestmark = needs_backend


def check_run_events(h: Harness, run_id: str) -> None:
    """runStarted, then outputs with seq 0..n-1, then exactly one runFinished."""
    order = [m for _, m, p in h.events if p.get("runId") == run_id]
    assert order[0] == "backendai/runStarted"
    assert order[-1] == "backendai/runFinished"
    assert order.count("backendai/runFinished") == 1
    seqs = [b["seq"] for b in h.of("backendai/output", run_id)]
    assert seqs == list(range(len(seqs)))


async def test_hello_world(tmp_path: Path, state_dir: Path) -> None:
    code = 'print("Hello from Backend.AI!")\n'
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "hello.py", code)
        result = await h.command("backendai.runFile", {"uri": doc})
        assert result["status"] == "finished"
        assert result["exitCode"] == 0
        assert result["durationMs"] >= 0
        assert h.output_text(result["runId"]) == "Hello from Backend.AI!\n"
        check_run_events(h, result["runId"])
        started = h.of("backendai/runStarted", result["runId"])[0]
        assert started["uri"] == doc and started["mode"] == "query"
        assert started["sessionName"].startswith(f"bai-{tmp_path.name}-")
        finished = h.of("backendai/runFinished", result["runId"])[0]
        assert finished["uri"] == doc and finished["status"] == "finished"
        statuses = [s["status"] for s in h.of("backendai/sessionStatus")]
        assert statuses[:2] == ["starting", "idle"] and "busy" in statuses
        assert statuses[-1] == "idle"


async def test_non_ascii_output_reaches_the_editor_intact(tmp_path: Path, state_dir: Path) -> None:
    """Output notifications are UTF-8 with a byte ``Content-Length`` (LSP's default)."""
    code = "print('é漢😀 ' * 30000)\nprint('after')\n"
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "text.py", code)
        result = await h.command("backendai.runFile", {"uri": doc})
        assert result["status"] == "finished", result
        assert h.output_text(result["runId"]) == "é漢😀 " * 30000 + "\nafter\n"


async def test_selection_keeps_state_between_runs(tmp_path: Path, state_dir: Path) -> None:
    code = "x = 40\ny = 2\nprint(x + y)\n"
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "calc.py", code)
        first = await h.command("backendai.runSelection", {"uri": doc, "range": rng(0, 0, 1, 5)})
        assert first["status"] == "finished"
        assert h.output_text(first["runId"]) == ""
        # an empty range runs the line under the cursor, using the state of the first run
        second = await h.command("backendai.runSelection", {"uri": doc, "range": rng(2, 3, 2, 3)})
        assert h.output_text(second["runId"]) == "42\n"
        # an uncaught error: finished, non-zero exit code, traceback on stderr
        doc2 = open_doc(h, tmp_path / "bad.py", "1/0\n")
        third = await h.command("backendai.runFile", {"uri": doc2})
        assert third["status"] == "finished" and third["exitCode"] != 0
        assert "ZeroDivisionError" in h.output_text(third["runId"], "stderr")


async def test_cell_around_the_cursor(tmp_path: Path, state_dir: Path) -> None:
    code = "# %% one\nprint('first')\n\n# %% two\nprint('second')\nprint('again')\n"
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "cells.py", code)
        result = await h.command(
            "backendai.runCell", {"uri": doc, "position": {"line": 4, "character": 2}}
        )
        assert h.output_text(result["runId"]) == "second\nagain\n"


async def test_input_and_getpass_through_backendai_input(tmp_path: Path, state_dir: Path) -> None:
    code = (
        "import getpass\n"
        "name = input('Name: ')\n"
        "pw = getpass.getpass('Password: ')\n"
        "print(f'hello {name}, {len(pw)} characters')\n"
    )
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "ask.py", code)
        await h.input_answers.put({"text": "Ada"})
        await h.input_answers.put({"text": "s3cret!"})
        result = await h.command("backendai.runFile", {"uri": doc})
        assert result["status"] == "finished"
        first, second = h.input_requests
        assert first["prompt"] == "Name: " and first["password"] is False
        assert second["prompt"] == "Password: " and second["password"] is True
        assert first["runId"] == result["runId"]
        out = h.output_text(result["runId"])
        assert "hello Ada, 7 characters" in out
        assert "s3cret!" not in out
        assert "waiting-input" in [s["status"] for s in h.of("backendai/sessionStatus")]


async def test_cancelled_input_interrupts_the_run(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "ask.py", "x = input('? ')\nprint('got', x)\n")
        await h.input_answers.put(None)
        result = await h.command("backendai.runFile", {"uri": doc})
        assert result["status"] == "interrupted"
        assert "got" not in h.output_text(result["runId"])
        # the session still works afterwards
        doc2 = open_doc(h, tmp_path / "ok.py", "print('still here')\n")
        again = await h.command("backendai.runFile", {"uri": doc2})
        assert h.output_text(again["runId"]) == "still here\n"


async def test_clients_without_input_support_use_send_input(
    tmp_path: Path, state_dir: Path
) -> None:
    async with start_server(
        [tmp_path], state_dir=state_dir, init_options=PRIVATE, answers_input=False
    ) as h:
        doc = open_doc(h, tmp_path / "ask.py", "x = input('Number: ')\nprint(int(x) * 2)\n")
        pending = asyncio.ensure_future(h.command("backendai.runFile", {"uri": doc}))
        await h.wait_for(lambda: [m for m in h.messages() if "backendai.sendInput" in m])
        run_id = h.of("backendai/runStarted")[0]["runId"]
        assert run_id in h.messages()[-1]
        assert h.input_requests == []
        await h.command("backendai.sendInput", {"runId": run_id, "text": "21"})
        result = await pending
        assert h.output_text(result["runId"]).endswith("42\n")


async def test_png_from_ipython_display_is_a_media_record(tmp_path: Path, state_dir: Path) -> None:
    code = (
        "import base64\n"
        "from IPython.display import Image, display\n"
        f"display(Image(data=base64.b64decode('{PNG}')))\n"
    )
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "img.py", code)
        result = await h.command("backendai.runFile", {"uri": doc})
        media = [
            r
            for b in h.of("backendai/output", result["runId"])
            for r in b["records"]
            if r["type"] == "media"
        ]
        assert len(media) == 1
        assert media[0]["mime"] == "image/png"
        assert base64.b64decode(media[0]["data"]) == base64.b64decode(PNG)


async def test_infinite_loop_is_interrupted(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(
            h, tmp_path / "loop.py", "print('spinning', flush=True)\nwhile True:\n    pass\n"
        )
        pending = asyncio.ensure_future(h.command("backendai.runFile", {"uri": doc}))
        await h.wait_for(
            lambda: (
                "spinning"
                in "".join(
                    r.get("text") or "" for b in h.of("backendai/output") for r in b["records"]
                )
            )
        )
        asked = time.monotonic()
        await h.command("backendai.interrupt", {"uri": doc})
        result = await asyncio.wait_for(pending, 10)
        took = time.monotonic() - asked
        assert result["status"] == "interrupted"
        assert "KeyboardInterrupt" in h.output_text(result["runId"], "stderr")
        print(f"interrupt took {took:.3f} s")
        assert took < 3  # the target is 1 s; the bound leaves room for a loaded machine


async def test_a_flood_arrives_complete_in_order_and_coalesced(
    tmp_path: Path, state_dir: Path
) -> None:
    lines = 200_000
    code = f"for i in range({lines}):\n    print(i)\n"
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "flood.py", code)
        await h.command("backendai.runSelection", {"uri": doc, "range": rng(0, 0, 0, 0)})
        warm = len(h.events)
        asked = time.monotonic()
        result = await h.command("backendai.runFile", {"uri": doc})
        elapsed = time.monotonic() - asked
        assert result["status"] == "finished"
        text = h.output_text(result["runId"])
        assert text == "".join(f"{i}\n" for i in range(lines))
        batches = h.of("backendai/output", result["runId"])
        assert [b["seq"] for b in batches] == list(range(len(batches)))
        rate = len(batches) / elapsed
        print(f"{len(batches)} notifications in {elapsed:.2f} s = {rate:.1f}/s")
        assert rate <= 60
        assert len(h.events) > warm


async def test_output_past_the_budget_is_kept_in_a_file(tmp_path: Path, state_dir: Path) -> None:
    options = {**PRIVATE, "output": {"maxBytesPerRun": 2000}}
    code = "for i in range(1000):\n    print(f'{i:05d}' + 'x' * 20)\n"
    async with start_server([tmp_path], state_dir=state_dir, init_options=options) as h:
        doc = open_doc(h, tmp_path / "big.py", code)
        result = await h.command("backendai.runFile", {"uri": doc})
        shown = h.output_text(result["runId"])
        assert len(shown.encode()) <= 2000
        notice = h.output_text(result["runId"], "stderr")
        assert "output.maxBytesPerRun" in notice
        finished = h.of("backendai/runFinished", result["runId"])[0]
        path = Path(finished["outputFile"])
        assert path.read_text() == "".join(f"{i:05d}" + "x" * 20 + "\n" for i in range(1000))
        assert str(path) in notice


async def test_cancelling_the_request_interrupts_the_run(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "loop.py", "print('go', flush=True)\nwhile True:\n    pass\n")
        future = h.client.protocol.send_request(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(command="backendai.runFile", arguments=[{"uri": doc}]),
            msg_id="run-to-cancel",
        )
        await h.wait_for(
            lambda: (
                h.output_text(h.of("backendai/runStarted")[0]["runId"])
                if h.of("backendai/runStarted")
                else ""
            )
        )
        h.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="run-to-cancel"))
        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wait_for(asyncio.wrap_future(future), 10)
        assert caught.value.code == -32800
        finished = await h.wait_for(lambda: h.of("backendai/runFinished"))
        assert finished[0]["status"] == "interrupted"


@pytest.mark.parametrize("editor", ["visual-studio-code", "neovim", "emacs"])
async def test_selections_in_each_editors_position_encoding(
    tmp_path: Path, state_dir: Path, editor: str
) -> None:
    line = "print('é😀', 'ok')"
    async with start_server(
        [tmp_path], state_dir=state_dir, init_options=PRIVATE, editor=editor
    ) as h:
        assert h.initialize_result is not None
        encoding = h.initialize_result.capabilities.position_encoding or "utf-16"
        codec = {"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}[encoding]
        unit = {"utf-8": 1, "utf-16": 2, "utf-32": 4}[encoding]
        end = len(line.encode(codec)) // unit
        doc = open_doc(h, tmp_path / "enc.py", line + "\nprint('second line')\n")
        result = await h.command("backendai.runSelection", {"uri": doc, "range": rng(0, 0, 0, end)})
        assert h.output_text(result["runId"]) == "é😀 ok\n"
        # positions past the end clamp as LSP says, in every encoding: a character past its
        # line is the line's end (Neovim's linewise selections end at 2^31 - 1) ...
        result = await h.command(
            "backendai.runSelection", {"uri": doc, "range": rng(0, 0, 0, 2**31 - 1)}
        )
        assert result["status"] == "finished", result
        assert h.output_text(result["runId"]) == "é😀 ok\n"
        # ... and a line past the last one is the end of the document
        result = await h.command("backendai.runSelection", {"uri": doc, "range": rng(1, 0, 9, 4)})
        assert h.output_text(result["runId"]) == "second line\n"
        result = await h.command(
            "backendai.runCell", {"uri": doc, "position": {"line": 40, "character": 99}}
        )
        assert h.output_text(result["runId"]) == "é😀 ok\nsecond line\n"


@pytest.mark.parametrize(
    ("language", "name", "code", "expected"),
    [
        ("shellscript", "t.sh", 'x=6\necho "shell $((x * 7))"\n', "shell 42\n"),
        ("javascript", "t.js", "const x = 6;\nconsole.log('node', x * 7);\n", "node 42\n"),
        ("c", "t.c", '#include <stdio.h>\nint main(void) { printf("c %d\\n", 42); }\n', "c 42\n"),
    ],
)
async def test_other_languages_in_query_mode(
    tmp_path: Path, state_dir: Path, language: str, name: str, code: str, expected: str
) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / name, code, language)
        result = await h.command("backendai.runFile", {"uri": doc})
        assert result["status"] == "finished", result
        assert h.output_text(result["runId"]) == expected
