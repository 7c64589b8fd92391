"""Query mode on a real ipykernel: what a user running cells sees."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bai_lsp.gateway.runtimes import ExecutionRequestError, SessionRuntime

from .conftest import CANARY_VALUE, Drive, alive, own_fd_target


async def test_hello_world_and_run_id(python_rt: SessionRuntime, drive: Drive) -> None:
    t = await drive(python_rt, "query", "print('hello, world')")
    assert t.final.status == "finished"
    assert t.final.exit_code == 0
    assert t.text() == "hello, world\n"
    assert t.run_id is not None and re.fullmatch(r"[0-9a-f]{32}", t.run_id)
    assert t.final.to_json()["files"] == []


async def test_state_is_kept_between_runs(python_rt: SessionRuntime, drive: Drive) -> None:
    await drive(python_rt, "query", "counter = 40")
    t = await drive(python_rt, "query", "counter += 2\ncounter")
    assert t.text() == "42\n"


async def test_stdout_and_stderr_keep_their_order(python_rt: SessionRuntime, drive: Drive) -> None:
    code = (
        "import sys\n"
        "print('one', flush=True)\n"
        "print('two', file=sys.stderr, flush=True)\n"
        "print('three', flush=True)\n"
    )
    t = await drive(python_rt, "query", code)
    assert t.records() == [("stdout", "one\n"), ("stderr", "two\n"), ("stdout", "three\n")]


async def test_error_traceback_goes_to_stderr_with_exit_code_1(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    t = await drive(python_rt, "query", "print('before')\n1/0")
    assert t.final.exit_code == 1
    assert t.text() == "before\n"
    stderr = t.text("stderr")
    assert "ZeroDivisionError" in stderr and "division by zero" in stderr
    assert "\x1b[" not in stderr, "ANSI colour codes must be stripped"
    # The kernel survives a failed cell.
    assert (await drive(python_rt, "query", "print(1)")).final.exit_code == 0


async def test_output_arrives_before_the_cell_ends(python_rt: SessionRuntime) -> None:
    """ipykernel batches output for 0.2 s by default; ours must not wait for the cell."""
    start = time.monotonic()
    first = await python_rt.execute(
        "query", None, "import time\nprint('early')\ntime.sleep(3)", None, 2.0
    )
    elapsed = time.monotonic() - start
    assert first.status == "continued"
    assert [r.text for r in first.console] == ["early\n"]
    assert elapsed < 2.0, "the flush window is an upper bound, not a delay"
    await python_rt.interrupt()


async def test_input_prompt_and_answer(python_rt: SessionRuntime, drive: Drive) -> None:
    t = await drive(
        python_rt, "query", "name = input('Your name: ')\nprint('hi', name)", inputs=["Ada"]
    )
    waiting = [p for p in t.polls if p.status == "waiting-input"]
    assert len(waiting) == 1
    assert waiting[0].options == {"is_password": False}
    assert ("stdout", "Your name: ") in t.records()
    assert t.text().endswith("hi Ada\n")
    assert t.final.exit_code == 0


async def test_getpass_is_flagged_as_password(python_rt: SessionRuntime, drive: Drive) -> None:
    code = "import getpass\nsecret = getpass.getpass('Password: ')\nprint(len(secret))"
    t = await drive(python_rt, "query", code, inputs=["hunter2"])
    waiting = [p for p in t.polls if p.status == "waiting-input"]
    assert waiting[0].options == {"is_password": True}
    assert "Password: " in t.text()
    assert "hunter2" not in t.text()
    assert t.text().endswith("7\n")


async def test_input_after_a_gap_and_typed_ahead(python_rt: SessionRuntime) -> None:
    first = await python_rt.execute("query", None, "a = input('a? ')\nprint(a * 2)", None, 2.0)
    while first.status != "waiting-input":
        first = await python_rt.execute("continue", first.run_id, "", None, 2.0)
    await asyncio.sleep(0.3)
    done = await python_rt.execute("input", first.run_id, "xy", None, 2.0)
    while done.status != "finished":
        done = await python_rt.execute("continue", first.run_id, "", None, 2.0)
    assert done.exit_code == 0


def _png_bytes(data_uri: str | None) -> bytes:
    assert data_uri is not None and data_uri.startswith("data:image/png;base64,")
    return base64.b64decode(data_uri.split(",", 1)[1])


async def test_png_from_ipython_display(python_rt: SessionRuntime, drive: Drive) -> None:
    code = (
        "import io, matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "from IPython.display import Image, display\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot([1, 2, 3], [3, 1, 2])\n"
        "buf = io.BytesIO()\n"
        "fig.savefig(buf, format='png')\n"
        "display(Image(buf.getvalue()))\n"
    )
    t = await drive(python_rt, "query", code)
    assert t.final.exit_code == 0, t.text("stderr")
    media = t.media()
    assert len(media) == 1 and media[0][0] == "image/png"
    assert _png_bytes(media[0][1]).startswith(b"\x89PNG\r\n\x1a\n")


async def test_matplotlib_inline_figure_is_a_png(
    python_rt: SessionRuntime, drive: Drive, workdir: Path
) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2], [2, 1])\nplt.show()"
    t = await drive(python_rt, "query", code)
    assert t.final.exit_code == 0, t.text("stderr")
    assert [m for m, _ in t.media()] == ["image/png"]
    assert _png_bytes(t.media()[0][1]).startswith(b"\x89PNG")
    # matplotlib's font cache is shared between sessions, not dropped into the user's folder.
    assert sorted(p.name for p in workdir.iterdir()) == []


async def test_svg_is_raw_text(python_rt: SessionRuntime, drive: Drive) -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5"/></svg>'
    code = f"from IPython.display import SVG, display\ndisplay(SVG({svg!r}))"
    t = await drive(python_rt, "query", code)
    [(mime, data)] = t.media()
    assert mime == "image/svg+xml"
    assert data is not None and data.startswith("<svg") and "<rect" in data


async def test_html_is_a_media_record(python_rt: SessionRuntime, drive: Drive) -> None:
    t = await drive(python_rt, "query", "from IPython.display import HTML\nHTML('<b>bold</b>')")
    records = [r.to_json() for p in t.polls for r in p.console]
    assert records == [["media", ["text/html", "<b>bold</b>"]]]


async def test_interrupt_stops_a_busy_loop_within_one_second(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    first = await python_rt.execute("query", None, "x = 1\nwhile True: pass", None, 0.3)
    assert first.status == "continued"
    start = time.monotonic()
    await python_rt.interrupt()
    result = await python_rt.execute("continue", first.run_id, "", None, 2.0)
    polls = [result]
    while result.status != "finished":
        result = await python_rt.execute("continue", first.run_id, "", None, 2.0)
        polls.append(result)
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, f"interrupt took {elapsed:.3f} s"
    stderr = "".join(r.text for p in polls for r in p.console if r.type == "stderr")
    assert "KeyboardInterrupt" in stderr
    # State survives an interrupt.
    assert (await drive(python_rt, "query", "print(x)")).text() == "1\n"


async def test_restart_forgets_state(python_rt: SessionRuntime, drive: Drive) -> None:
    await drive(python_rt, "query", "kept = 1")
    await python_rt.restart()
    t = await drive(python_rt, "query", "print('kept' in globals())")
    assert t.text() == "False\n"


async def test_kernel_environment_has_no_gateway_secrets(
    python_rt: SessionRuntime, drive: Drive, workdir: Path
) -> None:
    code = "import os, json\nprint(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))\n"
    t = await drive(python_rt, "query", code)
    import json

    seen = json.loads(t.text())
    env = seen["env"]
    assert "BACKEND_SECRET_KEY" not in env and "BACKEND_ACCESS_KEY" not in env
    assert "SOME_API_TOKEN" not in env
    assert CANARY_VALUE not in "\n".join(env.values())
    assert env["HOME"] == str(workdir)
    assert env["SESSION_VAR"] == "from-session"
    assert seen["cwd"] == str(workdir)


async def test_kernel_does_not_share_our_stdout(python_rt: SessionRuntime, drive: Drive) -> None:
    t = await drive(python_rt, "query", "import os\nprint(os.getpid(), os.getsid(0))")
    pid, sid = (int(x) for x in t.text().split())
    assert sid == pid, "the kernel leads its own session"
    targets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            targets.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    ours = {own_fd_target(1), own_fd_target(2)} - {"/dev/null"}
    assert not (targets & ours), f"kernel holds our standard streams: {targets & ours}"
    assert any(target.endswith("kernel.log") for target in targets)


async def test_shutdown_kills_kernel_and_grandchildren(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    code = (
        "import os, subprocess\n"
        "p = subprocess.Popen(['sleep', '1000'])\n"
        "os.system('sleep 1001 & echo $! > bg.pid')\n"
        "print(p.pid, open('bg.pid').read().strip(), os.getpid())\n"
    )
    t = await drive(python_rt, "query", code)
    pids = [int(x) for x in t.text().split()]
    assert len(pids) == 3 and all(alive(pid) for pid in pids)
    await python_rt.shutdown()
    assert [pid for pid in pids if alive(pid)] == []


async def test_ten_thousand_lines_arrive_complete_and_in_order(python_rt: SessionRuntime) -> None:
    code = (
        "import time\n"
        "for i in range(10000):\n"
        "    print(i)\n"
        "    if i % 2500 == 0:\n"
        "        time.sleep(0.3)\n"
    )
    result = await python_rt.execute("query", None, code, None, 0.2)
    polls = [result]
    await asyncio.sleep(0.5)  # a client that polls late must lose nothing
    while result.status != "finished":
        result = await python_rt.execute("continue", result.run_id, "", None, 0.2)
        polls.append(result)
    text = "".join(r.text for p in polls for r in p.console if r.type == "stdout")
    assert text == "".join(f"{i}\n" for i in range(10000))
    assert len([p for p in polls if p.console]) > 1


async def test_runs_are_serialised(python_rt: SessionRuntime, drive: Drive) -> None:
    slow = asyncio.create_task(
        drive(python_rt, "query", "import time\ntime.sleep(0.5)\nprint('first')")
    )
    await asyncio.sleep(0.1)
    second = await drive(python_rt, "query", "print('second')")
    first = await slow
    assert first.text() == "first\n" and second.text() == "second\n"
    assert first.run_id != second.run_id


async def test_bad_requests_are_explained(python_rt: SessionRuntime) -> None:
    with pytest.raises(ExecutionRequestError, match="runId"):
        await python_rt.execute("continue", None, "", None, 0.1)
    with pytest.raises(ExecutionRequestError, match="no run with runId"):
        await python_rt.execute("continue", "f" * 32, "", None, 0.1)
    with pytest.raises(ExecutionRequestError, match="unknown execution mode"):
        await python_rt.execute("continued", None, "", None, 0.1)
    with pytest.raises(ExecutionRequestError, match="must be a shell command"):
        await python_rt.execute("batch", None, "", {"exec": 5}, 0.1)


async def test_finished_run_can_be_polled_again(python_rt: SessionRuntime) -> None:
    result = await python_rt.execute("query", None, "print(5)", None, 2.0)
    while result.status != "finished":
        result = await python_rt.execute("continue", result.run_id, "", None, 2.0)
    again = await python_rt.execute("continue", result.run_id, "", None, 2.0)
    assert again.status == "finished" and again.exit_code == 0 and again.console == []


async def test_restart_during_a_cell_finishes_it(python_rt: SessionRuntime, drive: Drive) -> None:
    first = await python_rt.execute("query", None, "import time\ntime.sleep(100)", None, 0.2)
    assert first.status == "continued"
    await python_rt.restart()
    result = first
    polls = []
    while result.status != "finished":
        result = await python_rt.execute("continue", first.run_id, "", None, 2.0)
        polls.append(result)
    assert result.exit_code == 130
    assert "restart" in "".join(r.text for p in polls for r in p.console)
    assert (await drive(python_rt, "query", "print('alive')")).text() == "alive\n"


async def test_a_dying_kernel_ends_the_run_and_comes_back(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    await drive(python_rt, "query", "lost = 1")
    t = await drive(python_rt, "query", "import os\nprint('bye', flush=True)\nos._exit(3)")
    assert t.final.exit_code == 130
    assert "died" in t.text("stderr")
    t = await drive(python_rt, "query", "print('lost' in globals())")
    assert t.text() == "False\n"


@pytest.mark.slow
async def test_code_ignoring_sigint_gets_its_kernel_restarted(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass"
    first = await python_rt.execute("query", None, code, None, 0.3)
    await python_rt.interrupt()
    start = time.monotonic()
    result = first
    stderr = ""
    while result.status != "finished":
        result = await python_rt.execute("continue", first.run_id, "", None, 2.0)
        stderr += "".join(r.text for r in result.console if r.type == "stderr")
    assert result.exit_code == 130 and "ignored the interrupt" in stderr
    assert time.monotonic() - start < 10
    assert (await drive(python_rt, "query", "print(2)")).text() == "2\n"


async def test_output_of_child_processes_reaches_the_run(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    code = (
        "import os, subprocess\n"
        "subprocess.run(['echo', 'from-child'])\n"
        "os.system('echo from-system >&2')\n"
    )
    t = await drive(python_rt, "query", code)
    assert "from-child\n" in t.text()
    assert "from-system\n" in t.text("stderr")


async def test_completion_uses_the_kernel(python_rt: SessionRuntime, drive: Drive) -> None:
    await drive(python_rt, "query", "import os\nmy_long_variable = 1")
    assert "my_long_variable" in await python_rt.complete("my_long_v")
    matches = await python_rt.complete("os.pa\nx = 1", {"row": 0, "col": 5})
    assert "os.path" in matches


async def test_shutdown_during_a_cell_ends_its_run(python_rt: SessionRuntime) -> None:
    first = await python_rt.execute("query", None, "import time\ntime.sleep(100)", None, 0.2)
    waiting = asyncio.create_task(python_rt.execute("query", None, "print('never')", None, 2.0))
    await asyncio.sleep(0.1)
    await python_rt.shutdown()
    result = await python_rt.board.lookup("continue", first.run_id).poll(1.0)
    assert result.status == "finished" and result.exit_code == 130
    assert "shutting down" in "".join(r.text for r in result.console)
    with pytest.raises(ExecutionRequestError, match="shut down"):
        await waiting
    engine: Any = python_rt.query
    assert engine.km is None, "no kernel was started again during shutdown"


async def test_kernel_runs_the_gateways_interpreter(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    import sys

    t = await drive(python_rt, "query", "import sys\nprint(sys.executable)")
    assert t.text().strip() == sys.executable


async def test_interrupt_while_idle_spares_background_processes(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    t = await drive(python_rt, "query", "import subprocess\np = subprocess.Popen(['sleep', '300'])")
    await python_rt.interrupt()
    await asyncio.sleep(0.3)
    t = await drive(python_rt, "query", "print(p.poll())")
    assert t.text() == "None\n"
