"""The gateway's ipykernels: large writes sliced into bounded messages, and a kernel that
dies while starting is started once more."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jupyter_client.manager import AsyncKernelManager

from bai_lsp.gateway.runtimes import ImageTable, RuntimeFailure, SessionRuntime, create_runtime
from bai_lsp.gateway.runtimes.jupyter import KERNEL_WRITE_CHUNK, kernel_startup_lines

from .conftest import Drive

PYTHON_IMAGE = "cr.backend.ai/stable/python:3.9-ubuntu20.04"


async def test_a_large_write_arrives_whole_and_in_order(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    code = (
        "import sys\n"
        "print('before')\n"
        "n = sys.stdout.write('ab' * 1_500_000 + '\\n')\n"
        "sys.stderr.write('e' * 2_500_000 + '\\n')\n"
        "print('after', n, getattr(sys.stdout.write, '_bai_lsp_sliced', False))\n"
    )
    t = await drive(python_rt, "query", code)
    assert t.final.exit_code == 0, t.text("stderr")[-500:]
    # write() still returns the whole length; the slices travel in order.
    assert t.text() == "before\n" + "ab" * 1_500_000 + "\nafter 3000001 True\n"
    assert t.text("stderr") == "e" * 2_500_000 + "\n"


async def _stream_message_sizes(code: str, tmp_path: Path) -> list[int]:
    """The sizes of the iopub stream messages of ``code`` in a kernel started with our
    startup lines, as the gateway's jupyter_client receives them."""
    km = AsyncKernelManager(kernel_name="python3")
    km.connection_file = str(tmp_path / "kernel.json")
    extra = [f"--IPKernelApp.exec_lines={kernel_startup_lines()!r}"]
    await km.start_kernel(extra_arguments=extra, cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    sizes: list[int] = []
    try:
        await kc.wait_for_ready(timeout=60)
        for snippet in ("pass", code):  # the second cell too: IPython re-wraps write per cell
            sizes.clear()
            msg_id = kc.execute(snippet)
            async with asyncio.timeout(60):
                while True:
                    msg = await kc.get_iopub_msg()
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    kind = msg["header"]["msg_type"]
                    if kind == "stream":
                        sizes.append(len(msg["content"]["text"]))
                    if kind == "status" and msg["content"]["execution_state"] == "idle":
                        break
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    return sizes


async def test_one_huge_write_becomes_bounded_messages(tmp_path: Path) -> None:
    """The gateway never has to decode one 20 MB message for one 20 MB write."""
    sizes = await _stream_message_sizes(
        "import sys\nsys.stdout.write('x' * 20_000_000)\nsys.stdout.flush()", tmp_path
    )
    assert sum(sizes) == 20_000_000
    assert max(sizes) <= KERNEL_WRITE_CHUNK + 4096, sizes[:5]
    assert len(sizes) >= 20


async def test_the_startup_hook_leaves_the_users_namespace_alone(
    python_rt: SessionRuntime, drive: Drive
) -> None:
    t = await drive(python_rt, "query", "print(sorted(k for k in dir() if 'install' in k))")
    assert t.text() == "[]\n"


def _dies_on_first_start(tmp_path: Path) -> Path:
    """A sitecustomize that kills the first Python process that starts with it (a real
    kernel death before kernel_info, as under load), then lets every later one live."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    marker = tmp_path / "died-once"
    (hooks / "sitecustomize.py").write_text(
        "import os\n"
        f"marker = {str(marker)!r}\n"
        "cmdline = open('/proc/self/cmdline', 'rb').read()\n"
        "if b'ipykernel_launcher' in cmdline and not os.path.exists(marker):\n"
        "    open(marker, 'w').close()\n"
        "    os._exit(3)\n"
    )
    return marker


async def test_a_kernel_that_dies_while_starting_is_started_again(
    tmp_path: Path, workdir: Path, drive: Drive, caplog: pytest.LogCaptureFixture
) -> None:
    marker = _dies_on_first_start(tmp_path)
    spec = ImageTable.load(None).resolve(PYTHON_IMAGE)
    assert spec is not None
    rt = create_runtime(spec, workdir, {"PYTHONPATH": str(tmp_path / "hooks")})
    try:
        await rt.start()
        assert marker.exists(), "the first kernel did not die: the test proves nothing"
        t = await drive(rt, "query", "print('alive')")
        assert t.text() == "alive\n"
    finally:
        await rt.shutdown()
    assert "died before it was ready" in caplog.text


async def test_a_kernel_that_keeps_dying_fails_with_a_clear_message(
    tmp_path: Path, workdir: Path
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os\n"
        "if b'ipykernel_launcher' in open('/proc/self/cmdline', 'rb').read():\n"
        "    os._exit(3)\n"
    )
    spec = ImageTable.load(None).resolve(PYTHON_IMAGE)
    assert spec is not None
    rt = create_runtime(spec, workdir, {"PYTHONPATH": str(hooks)})
    try:
        with pytest.raises(RuntimeFailure, match="did not become ready: Kernel died"):
            await rt.start()
    finally:
        await rt.shutdown()


async def test_a_reader_that_does_not_poll_holds_a_large_write_back(
    python_rt: SessionRuntime, workdir: Path
) -> None:
    """The kernel waits for the gateway to take its slices (credits), so output nobody
    collects stays bounded in the gateway; once polled, everything arrives."""
    total = 60_000_000
    code = (
        "import sys\n"
        f"sys.stdout.write('x' * {total})\n"
        "sys.stdout.flush()\n"
        "open('written', 'w').close()\n"
    )
    first = await python_rt.execute("query", None, code, None, 0.05)
    await asyncio.sleep(3)  # nobody polls: the kernel must still be writing
    assert not (workdir / "written").exists(), "the kernel wrote 60 MB nobody read"
    received = sum(len(r.text) for r in first.console)
    result = first
    while result.status != "finished":
        result = await python_rt.execute("continue", first.run_id, "", None, 2.0)
        received += sum(len(r.text) for r in result.console if r.type == "stdout")
    assert received == total
    assert (workdir / "written").exists()


async def test_small_writes_nobody_reads_are_held_back_and_none_is_lost(
    python_rt: SessionRuntime, workdir: Path
) -> None:
    """A loop of small writes is paced too: while nobody polls, the kernel waits instead of
    piling its output up in the gateway (or having ZeroMQ drop it); once polled, every line
    arrives, in order."""
    lines = 400_000
    code = (
        "import sys\n"
        f"for i in range(0, {lines}, 100):\n"
        "    sys.stdout.write(''.join(f'{j:08d}' + 'y' * 91 + '\\n' for j in range(i, i + 100)))\n"
        "sys.stdout.flush()\n"
        "open('written', 'w').close()\n"
    )
    first = await python_rt.execute("query", None, code, None, 0.05)
    await asyncio.sleep(3)  # nobody polls: the kernel must still be writing
    assert not (workdir / "written").exists(), "the kernel wrote 40 MB nobody read"
    out = [r.text for r in first.console if r.type == "stdout"]
    result = first
    while result.status != "finished":
        result = await python_rt.execute("continue", first.run_id, "", None, 2.0)
        out.extend(r.text for r in result.console if r.type == "stdout")
    assert result.exit_code == 0
    assert "".join(out) == "".join(f"{j:08d}" + "y" * 91 + "\n" for j in range(lines))
