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


async def test_gateway_killed_and_restarted_under_a_live_session(
    tmp_path: Path, state_dir: Path
) -> None:
    import signal

    from support.gateway import start_gateway, stop_gateway_process

    first = start_gateway(tmp_path / "gw1")
    second = None
    parts = urlsplit(first.endpoint)
    proxy = await FaultProxy(parts.port or 80, parts.hostname or "127.0.0.1").start()
    options = {
        "endpoint": proxy.endpoint,
        "accessKey": first.access_key,
        "secretKey": first.secret_key,
        "onExit": "destroy",
        "runTransport": "rest",
    }
    folder = tmp_path / "ws"
    folder.mkdir()
    try:
        async with start_server([folder], state_dir=state_dir, init_options=options) as h:
            doc = open_doc(
                h, folder / "long.py", "import time\nprint('a', flush=True)\ntime.sleep(60)\n"
            )
            run = asyncio.ensure_future(h.command("backendai.runFile", {"uri": doc}))
            await h.wait_for(lambda: "a\n" in _stdout(h), 30)
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
            await h.wait_for(lambda: "reconnecting" in _statuses(h), 15)
            second = start_gateway(tmp_path / "gw2")
            proxy.retarget(urlsplit(second.endpoint).port or 80)
            result = await asyncio.wait_for(run, 40)
            assert result["status"] == "failed", result
            assert result["message"], result
            # the user's next run notices the lost session, starts a new one and runs there
            again = await h.command(
                "backendai.runFile", {"uri": open_doc(h, folder / "b.py", "print(7)\n")}
            )
            assert again["status"] == "finished", again
            assert h.output_text(again["runId"]) == "7\n"
            lost = [m for m in h.messages() if "was lost" in m]
            assert lost and "A new session is being started" in lost[0]
            assert _statuses(h)[-1] == "idle"
    finally:
        await proxy.stop()
        for gw in (first, second):
            if gw is not None:
                stop_gateway_process(gw.process)
