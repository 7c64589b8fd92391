"""The run log: output comes back after the server restarts, and bad run ids say so."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from bai_lsp.domain import runlog
from lsp.harness import PRIVATE, needs_backend, open_doc, start_server, uri

pytestmark = needs_backend


async def test_replay_after_the_server_restarts(tmp_path: Path, state_dir: Path) -> None:
    script = tmp_path / "loud.py"
    code = "import sys\nfor i in range(5):\n    print('line', i)\nprint('oops', file=sys.stderr)\n"
    other = tmp_path / "other.py"
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        first = await h.command("backendai.runFile", {"uri": open_doc(h, script, code)})
        assert first["status"] == "finished", first
        await h.command("backendai.runFile", {"uri": open_doc(h, other, "print('other')\n")})
        live = h.output_text(first["runId"])
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        listed = await h.command("backendai.runs.list", {})
        assert [r["uri"] for r in listed["runs"]] == [uri(other), uri(script)]
        mine = await h.command("backendai.runs.list", {"uri": uri(script)})
        (entry,) = mine["runs"]
        assert entry["runId"] == first["runId"]
        assert (entry["status"], entry["exitCode"], entry["mode"]) == ("finished", 0, "query")
        replay = await h.command("backendai.runs.replay", {"runId": first["runId"]})
        out = "".join(r["text"] for r in replay["records"] if r["type"] == "stdout")
        err = "".join(r["text"] for r in replay["records"] if r["type"] == "stderr")
        assert out == live == "".join(f"line {i}\n" for i in range(5))
        assert err == "oops\n"
        assert replay["truncated"] is False
        with pytest.raises(JsonRpcException) as caught:
            await h.command("backendai.runs.replay", {"runId": "nope"})
        assert "No run with id 'nope'" in str(caught.value)
        with pytest.raises(JsonRpcException) as caught:
            await h.command("backendai.runs.replay", {})
        assert "runId" in str(caught.value)


async def test_the_log_rotates_within_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bai_lsp.domain.events import OutputBatch, Record, RunFinished, RunStarted

    monkeypatch.setattr(runlog, "SEGMENT_BYTES", 4000)
    log = runlog.RunLog(tmp_path / "runs")
    for n in range(40):
        run_id = f"r{n}"
        log.started(RunStarted(run_id, "file:///a.py", "query", "s"))
        log.sink(run_id, lambda b: None)(OutputBatch(run_id, 0, [Record("stdout", text="x" * 500)]))
        log.finished(RunFinished(run_id, "finished", 0, 1, "file:///a.py"))
        await log.close()
    files = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert files == ["runs.1.jsonl", "runs.2.jsonl", "runs.3.jsonl", "runs.jsonl"]
    assert sum(p.stat().st_size for p in (tmp_path / "runs").iterdir()) <= 4 * 4000
    runs = (await log.list()).runs
    assert runs[0].run_id == "r39" and len(runs) < 40
    replay = await log.replay("r39")
    assert replay.records == [Record("stdout", text="x" * 500)]


async def test_a_long_run_says_when_it_ends(tmp_path: Path, state_dir: Path) -> None:
    options = {**PRIVATE, "notifyAfterSeconds": 1}
    async with start_server([tmp_path], state_dir=state_dir, init_options=options) as h:
        doc = open_doc(h, tmp_path / "slow.py", "import time\ntime.sleep(1.3)\nprint('done')\n")
        quick = open_doc(h, tmp_path / "quick.py", "print('fast')\n")
        fast = await h.command("backendai.runFile", {"uri": quick})
        assert fast["durationMs"] < 1000, fast
        result = await h.command("backendai.runFile", {"uri": doc})
        assert result["status"] == "finished", result
        told = await h.wait_for(lambda: [m for m in h.messages() if "The run of" in m])
        assert len(told) == 1
        assert told[0].startswith("The run of slow.py on ")
        assert "finished (exit code 0) after 1 s" in told[0]


async def test_a_bad_notify_setting_is_named(tmp_path: Path, state_dir: Path) -> None:
    options = {**PRIVATE, "notifyAfterSeconds": -3}
    async with start_server([tmp_path], state_dir=state_dir, init_options=options) as h:
        shown = await h.wait_for(lambda: [m for m in h.messages() if "notifyAfterSeconds" in m])
        assert "expected a non-negative integer, got -3" in shown[0]
