"""Batch mode: clean/build/exec steps as a user uploading files and running them sees them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bai_lsp.gateway.runtimes import ExecutionRequestError, ImageSpec, create_runtime

from .conftest import CANARY_VALUE, Drive, alive

MakeRt = Callable[[str], Awaitable[Any]]
ALL_STAR = {"clean": "", "build": "*", "exec": "*"}


async def test_python_batch_imports_a_sibling_module(
    make_rt: MakeRt, drive: Drive, workdir: Path
) -> None:
    (workdir / "main.py").write_text("import helper\nprint(helper.greet('batch'))\n")
    (workdir / "helper.py").write_text("def greet(who):\n    return f'hello {who}'\n")
    rt = await make_rt("python:3.11")
    t = await drive(rt, "batch", "", ALL_STAR)
    assert t.statuses[0] == "clean-finished" and "build-finished" in t.statuses
    assert t.final.status == "finished" and t.final.exit_code == 0
    assert t.text() == "hello batch\n"


async def test_empty_steps_are_skipped_but_reported(make_rt: MakeRt, drive: Drive) -> None:
    rt = await make_rt("python")
    t = await drive(rt, "batch", "", {"clean": None, "build": "", "exec": "echo ran"})
    # (the exec step's first line may come ahead in a "continued" answer of its own)
    steps = [p for p in t.polls if p.status != "continued"]
    assert [p.status for p in steps] == ["clean-finished", "build-finished", "finished"]
    assert [p.exit_code for p in steps] == [0, 0, 0]
    assert t.text() == "ran\n"


async def test_c_build_and_exec_heuristics(make_rt: MakeRt, drive: Drive, workdir: Path) -> None:
    (workdir / "main.c").write_text(
        '#include <stdio.h>\nint add(int, int);\nint main(void) { printf("%d\\n", add(40, 2)); '
        "return 3; }\n"
    )
    (workdir / "add.c").write_text("int add(int a, int b) { return a + b; }\n")
    rt = await make_rt("gcc")
    t = await drive(rt, "batch", "", ALL_STAR)
    assert t.text() == "42\n"
    assert t.final.exit_code == 3
    assert (workdir / "main").exists()


async def test_build_failure_skips_exec_with_127(
    make_rt: MakeRt, drive: Drive, workdir: Path
) -> None:
    (workdir / "main.c").write_text("int main(void) { return missing_symbol; }\n")
    rt = await make_rt("c")
    t = await drive(rt, "batch", "", {"build": "*", "exec": "echo should-not-run"})
    build = next(p for p in t.polls if p.status == "build-finished")
    assert build.exit_code not in (0, None)
    assert "missing_symbol" in t.text("stderr")
    assert t.final.exit_code == 127
    assert "should-not-run" not in t.text()


async def test_exec_star_without_main_explains(make_rt: MakeRt, drive: Drive) -> None:
    rt = await make_rt("python")
    t = await drive(rt, "batch", "", {"exec": "*"})
    assert t.final.exit_code == 127
    assert "main.py" in t.text("stderr")


async def test_node_and_bash_batch(make_rt: MakeRt, drive: Drive, workdir: Path) -> None:
    (workdir / "main.js").write_text("console.log(6 * 7); console.error('to stderr');\n")
    (workdir / "main.sh").write_text("echo from bash; exit 4\n")
    node = await make_rt("node")
    t = await drive(node, "batch", "", ALL_STAR)
    assert t.text() == "42\n" and t.text("stderr") == "to stderr\n" and t.final.exit_code == 0
    bash = await make_rt("bash")
    t = await drive(bash, "batch", "", ALL_STAR)
    assert t.text() == "from bash\n" and t.final.exit_code == 4


async def test_make_is_used_when_a_makefile_exists(
    make_rt: MakeRt, drive: Drive, workdir: Path
) -> None:
    (workdir / "Makefile").write_text("all:\n\techo built > built.txt\n")
    (workdir / "main.py").write_text("print(open('built.txt').read().strip())\n")
    rt = await make_rt("python")
    t = await drive(rt, "batch", "", ALL_STAR)
    assert t.text().endswith("built\n") and t.final.exit_code == 0


@pytest.mark.parametrize(
    ("image", "files", "prompt"),
    [
        ("python", {"main.py": "n = input('n? ')\nprint(int(n) * 2)\n"}, "n? "),
        (
            "c",
            {
                "main.c": '#include <stdio.h>\nint main(void) { int n; printf("n? "); '
                'if (scanf("%d", &n) != 1) return 1; printf("%d\\n", n * 2); return 0; }\n'
            },
            "n? ",
        ),
        ("bash", {"main.sh": "echo -n 'n? '\nread n\necho $((n * 2))\n"}, "n? "),
    ],
)
async def test_batch_programs_reading_stdin_get_waiting_input(
    make_rt: MakeRt,
    drive: Drive,
    workdir: Path,
    image: str,
    files: dict[str, str],
    prompt: str,
) -> None:
    for name, text in files.items():
        (workdir / name).write_text(text)
    rt = await make_rt(image)
    t = await drive(rt, "batch", "", ALL_STAR, inputs=["21"])
    waiting = [p for p in t.polls if p.status == "waiting-input"]
    assert len(waiting) == 1 and waiting[0].options == {}
    stdout = t.text()
    assert stdout.index(prompt) < stdout.index("42"), "the prompt shows before the answer"
    assert stdout.endswith("42\n") and t.final.exit_code == 0


async def test_interrupt_stops_a_batch_step(make_rt: MakeRt) -> None:
    rt = await make_rt("bash")
    first = await rt.execute("batch", None, "", {"exec": "echo start; sleep 100"}, 0.5)
    statuses = [first.status]
    while first.status != "continued":
        first = await rt.execute("continue", first.run_id, "", None, 0.5)
        statuses.append(first.status)
    start = time.monotonic()
    await rt.interrupt()
    result = first
    while result.status != "finished":
        result = await rt.execute("continue", first.run_id, "", None, 2.0)
    assert time.monotonic() - start < 10, "stopped by the interrupt, not by the end of sleep"
    # SIGINT (130), or SIGKILL (137) when the grace period ran out on a loaded machine.
    assert result.exit_code in (130, 137)


async def test_batch_environment_has_no_secrets(
    make_rt: MakeRt, drive: Drive, workdir: Path
) -> None:
    rt = await make_rt("bash")
    t = await drive(rt, "batch", "", {"exec": "env; pwd"})
    out = t.text()
    assert CANARY_VALUE not in out and "BACKEND_SECRET_KEY" not in out
    assert "SESSION_VAR=from-session" in out
    assert f"HOME={workdir}" in out
    assert out.rstrip().endswith(str(workdir))


async def test_shutdown_kills_batch_grandchildren(make_rt: MakeRt, workdir: Path) -> None:
    rt = await make_rt("bash")
    result = await rt.execute(
        "batch", None, "", {"exec": "sleep 1000 & echo $! > bg.pid; sleep 1000"}, 0.5
    )
    while not (workdir / "bg.pid").exists() or not (workdir / "bg.pid").read_text().strip():
        await asyncio.sleep(0.05)
    pid = int((workdir / "bg.pid").read_text())
    assert alive(pid)
    await rt.shutdown()
    assert not alive(pid)
    assert result.run_id


async def test_ten_thousand_lines_and_broken_utf8(
    make_rt: MakeRt, drive: Drive, workdir: Path
) -> None:
    (workdir / "flood.py").write_text(
        "import sys\nfor i in range(10000):\n    print(i)\n"
        "sys.stdout.flush()\nsys.stdout.buffer.write(b'\\xff\\xc3\\xa9\\n')\n"
    )
    rt = await make_rt("python")
    t = await drive(rt, "batch", "", {"exec": "python flood.py"}, flush_timeout=0.2)
    assert t.text("stderr") == ""
    expected = "".join(f"{i}\n" for i in range(10000)) + "\ufffd\u00e9\n"
    assert t.text() == expected


async def test_batch_only_image_refuses_query(workdir: Path) -> None:
    rt = create_runtime(ImageSpec("r-base", query="none"), workdir, {})
    await rt.start()
    try:
        with pytest.raises(ExecutionRequestError, match="no query"):
            await rt.execute("query", None, "1", None, 0.1)
    finally:
        await rt.shutdown()


async def test_input_after_a_quiet_spell_is_still_detected(
    make_rt: MakeRt, drive: Drive, workdir: Path
) -> None:
    (workdir / "main.py").write_text(
        "import time\ntime.sleep(1.5)\nprint('got', input('late? '))\nprint('got', input())\n"
    )
    rt = await make_rt("python")
    t = await drive(rt, "batch", "", {"exec": "*"}, inputs=["one", "two"])
    assert t.statuses.count("waiting-input") == 2
    assert t.text() == "late? got one\ngot two\n"


async def test_interrupt_during_build_ends_the_whole_run(make_rt: MakeRt) -> None:
    rt = await make_rt("bash")
    first = await rt.execute(
        "batch", None, "", {"build": "sleep 100", "exec": "echo should-not-run"}, 0.3
    )
    statuses = [first.status]
    while first.status != "continued":
        first = await rt.execute("continue", first.run_id, "", None, 0.3)
        statuses.append(first.status)
    await rt.interrupt()
    result = first
    text = ""
    while result.status != "finished":
        result = await rt.execute("continue", first.run_id, "", None, 2.0)
        statuses.append(result.status)
        text += "".join(r.text for r in result.console)
    assert statuses[-2:] == ["build-finished", "finished"]
    assert result.exit_code == 130 and "should-not-run" not in text
