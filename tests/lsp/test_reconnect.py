"""Runs with ``runTransport: "rest"`` survive cut connections (tests/faults/proxy.py): the
status says ``reconnecting``, and every line arrives exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

from faults.proxy import FaultProxy
from support.gateway import running_gateway

from lsp.harness import needs_backend, open_doc, start_server

pytestmark = needs_backend


PROGRAM = """\
import time
for burst in range(4):
    for i in range(5):
        print(f"line {burst * 5 + i}", flush=True)
    time.sleep(3)
print("done", flush=True)
"""


async def test_a_cut_connection_loses_and_repeats_nothing(tmp_path: Path, state_dir: Path) -> None:
    with running_gateway(tmp_path / "gw") as gw:
        parts = urlsplit(gw.endpoint)
        proxy = await FaultProxy(parts.port or 80, parts.hostname or "127.0.0.1").start()
        endpoint = proxy.endpoint
        options = {
            "endpoint": endpoint,
            "accessKey": gw.access_key,
            "secretKey": gw.secret_key,
            "onExit": "destroy",
            "runTransport": "rest",
        }
        folder = tmp_path / "ws"
        folder.mkdir()
        try:
            async with start_server([folder], state_dir=state_dir, init_options=options) as h:
                doc = open_doc(h, folder / "long.py", PROGRAM)
                run = asyncio.ensure_future(h.command("backendai.runFile", {"uri": doc}))
                for burst in range(1, 3):
                    # reset every connection (TCP RST) while the program sleeps between bursts
                    await h.wait_for(lambda b=burst: f"line {b * 5 - 1}\n" in _stdout(h), 30)
                    await asyncio.sleep(0.5)
                    assert proxy.reset_all() >= 1
                    await h.wait_for(lambda b=burst: _statuses(h).count("reconnecting") >= b, 10)
                result = await asyncio.wait_for(run, 60)
                assert result["status"] == "finished", result
                expected = "".join(f"line {n}\n" for n in range(20)) + "done\n"
                assert h.output_text(result["runId"]) == expected
                statuses = _statuses(h)
                assert "reconnecting" in statuses
                assert statuses[-1] == "idle"
                reconnecting = [
                    s for s in h.of("backendai/sessionStatus") if s["status"] == "reconnecting"
                ]
                assert "the run goes on on the session" in reconnecting[0]["message"]
                # the session works as usual afterwards
                again = await h.command(
                    "backendai.runFile", {"uri": open_doc(h, folder / "b.py", "print(7)\n")}
                )
                assert h.output_text(again["runId"]) == "7\n"
        finally:
            await proxy.stop()


def _stdout(h: object) -> str:
    harness = h  # type: ignore[assignment]
    return "".join(
        r.get("text") or ""
        for b in harness.of("backendai/output")  # type: ignore[attr-defined]
        for r in b["records"]
        if r["type"] == "stdout"
    )


def _statuses(h: object) -> list[str]:
    return [s["status"] for s in h.of("backendai/sessionStatus")]  # type: ignore[attr-defined]
