"""Query mode on bash, node and c images."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .conftest import CANARY_VALUE, Drive

MakeRt = Callable[[str], Awaitable[Any]]


async def _interrupt_and_finish(rt: Any, code: str) -> tuple[float, Any, str]:
    first = await rt.execute("query", None, code, None, 0.3)
    assert first.status == "continued"
    start = time.monotonic()
    await rt.interrupt()
    result = first
    stderr = ""
    while result.status != "finished":
        result = await rt.execute("continue", first.run_id, "", None, 2.0)
        stderr += "".join(r.text for r in result.console if r.type == "stderr")
    return time.monotonic() - start, result, stderr


async def test_bash_keeps_variables_functions_and_cwd(
    make_rt: MakeRt, drive: Drive, workdir: Path
) -> None:
    rt = await make_rt("bash")
    t = await drive(rt, "query", 'x=41; greet() { echo "hi $1"; }; mkdir -p sub && cd sub')
    assert t.final.exit_code == 0
    t = await drive(rt, "query", "echo $((x + 1)); greet you; pwd; echo oops >&2; false")
    assert t.text() == f"42\nhi you\n{workdir / 'sub'}\n"
    assert t.text("stderr") == "oops\n"
    assert t.final.exit_code == 1


async def test_bash_read_gets_waiting_input(make_rt: MakeRt, drive: Drive) -> None:
    rt = await make_rt("shell")
    t = await drive(rt, "query", "printf 'name? '; read name; echo \"got $name\"", inputs=["Ada"])
    assert "waiting-input" in t.statuses
    assert t.text() == "name? got Ada\n"


async def test_bash_interrupt_keeps_the_shell(make_rt: MakeRt, drive: Drive) -> None:
    rt = await make_rt("bash")
    await drive(rt, "query", "kept=yes")
    elapsed, result, _ = await _interrupt_and_finish(rt, "while :; do :; done")
    assert elapsed < 3.0 and result.exit_code == 130
    assert (await drive(rt, "query", "echo $kept")).text() == "yes\n"


async def test_bash_exit_resets_the_shell(make_rt: MakeRt, drive: Drive) -> None:
    rt = await make_rt("bash")
    # A background job still holds the shell's stdout: the end of the shell must be seen anyway.
    t = await drive(rt, "query", "sleep 1000 & exit 3")
    assert t.final.exit_code == 3 and "state was reset" in t.text("stderr")
    assert (await drive(rt, "query", "echo back")).text() == "back\n"


async def test_bash_env_has_no_secrets(make_rt: MakeRt, drive: Drive) -> None:
    rt = await make_rt("bash")
    out = (await drive(rt, "query", "env")).text()
    assert CANARY_VALUE not in out and "SESSION_VAR=from-session" in out


async def test_node_keeps_state_and_prints_values(make_rt: MakeRt, drive: Drive) -> None:
    rt = await make_rt("nodejs")
    t = await drive(rt, "query", "var x = 40; function add(a, b) { return a + b }")
    assert t.final.exit_code == 0 and t.text() == ""
    t = await drive(rt, "query", "console.log('log'); add(x, 2)")
    assert t.text() == "log\n42\n"
    t = await drive(rt, "query", "await new Promise(r => setTimeout(() => r('later'), 10))")
    assert t.text() == "'later'\n"


async def test_node_error_and_interrupt(make_rt: MakeRt, drive: Drive) -> None:
    rt = await make_rt("node")
    t = await drive(rt, "query", "throw new Error('boom')")
    assert t.final.exit_code == 1 and "Error: boom" in t.text("stderr")
    assert "[eval]" not in t.text("stderr"), "the driver's frames are hidden"
    elapsed, result, stderr = await _interrupt_and_finish(rt, "while (true) {}")
    assert elapsed < 3.0 and result.exit_code == 1 and "interrupted" in stderr
    assert (await drive(rt, "query", "1 + 1")).text() == "2\n"


async def test_c_snippets_compile_and_run(make_rt: MakeRt, drive: Drive) -> None:
    rt = await make_rt("c")
    t = await drive(rt, "query", 'printf("%d\\n", 6 * 7);')
    assert t.text() == "42\n" and t.final.exit_code == 0
    t = await drive(rt, "query", "int main(void) { return 5; }")
    assert t.final.exit_code == 5
    t = await drive(rt, "query", "this is not C")
    assert t.final.exit_code != 0 and "error" in t.text("stderr")
    t = await drive(
        rt, "query", 'int n; printf("n? "); scanf("%d", &n); printf("%d\\n", n + 1);', inputs=["41"]
    )
    assert "waiting-input" in t.statuses and t.text() == "n? 42\n"


async def test_bash_survives_redirecting_its_own_output(
    make_rt: MakeRt, drive: Drive, workdir: Path
) -> None:
    rt = await make_rt("bash")
    t = await drive(rt, "query", "exec >log.txt; echo to-file")
    assert t.final.exit_code == 0 and t.text() == ""
    assert (workdir / "log.txt").read_text() == "to-file\n"
    t = await drive(rt, "query", "echo still-here >&2")
    assert t.text("stderr") == "still-here\n" and t.final.exit_code == 0
