"""What the server leaves behind, and what it lets reach the kernels."""

from __future__ import annotations

import time
from pathlib import Path

import psutil

from lsp.harness import PRIVATE, needs_backend, open_doc, start_server

pytestmark = needs_backend


def gateways_of(state_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "gateway" in cmdline and any(str(state_dir) in part for part in cmdline):
            found.append(proc)
    return found


async def test_on_exit_destroy_stops_the_gateway_and_its_kernels(
    tmp_path: Path, state_dir: Path
) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "a.py", "import os\nprint(os.getpid())\n")
        result = await h.command("backendai.runFile", {"uri": doc})
        kernel_pid = int(h.output_text(result["runId"]).strip())
        assert gateways_of(state_dir)
    deadline = time.monotonic() + 15
    while (gateways_of(state_dir) or psutil.pid_exists(kernel_pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gateways_of(state_dir) == []
    assert not psutil.pid_exists(kernel_pid) or psutil.Process(kernel_pid).status() == "zombie"


async def test_keys_never_reach_the_kernel_or_the_editor(tmp_path: Path, state_dir: Path) -> None:
    code = (
        "import os\n"
        "print(sorted(k for k in os.environ\n"
        "             if k.startswith(('BACKEND_', 'SORNA_')) or 'SECRET' in k or 'KEY' in k))\n"
    )
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "env.py", code)
        result = await h.command("backendai.runFile", {"uri": doc})
        assert h.output_text(result["runId"]) == "[]\n"
        every_payload = repr(h.events)
        assert "secretKey" not in every_payload and "SECRET_KEY" not in every_payload
