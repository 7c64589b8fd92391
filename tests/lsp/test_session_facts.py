"""The session status tells why a session ended and how long it may still sit idle."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.gateway import running_gateway

from bai_lsp.domain.events import SESSION_REASONS
from bai_lsp.domain.session_facts import REASON_CODES, ended_because, idle_remaining, reason_code
from lsp.harness import needs_backend, start_server, uri

pytestmark = needs_backend


async def test_idle_countdown_then_the_reason_it_ended(tmp_path: Path, state_dir: Path) -> None:
    with running_gateway(tmp_path / "gw", args=["--idle-timeout", "4"]) as gw:
        options = {
            "endpoint": gw.endpoint,
            "accessKey": gw.access_key,
            "secretKey": gw.secret_key,
            "onExit": "destroy",
        }
        folder = tmp_path / "ws"
        folder.mkdir()
        (folder / "a.py").write_text("print(1)\n")
        async with start_server([folder], state_dir=state_dir, init_options=options) as h:
            target = {"uri": uri(folder / "a.py")}
            await h.command("backendai.session.start", target)
            status = await h.command("backendai.session.status", target)
            assert status["status"] == "idle", status
            assert 0 < status["idleRemainingSeconds"] <= 4
            for _ in range(60):
                status = await h.command("backendai.session.status", target)
                if status["status"] == "terminated":
                    break
                await asyncio.sleep(0.25)
            assert status["status"] == "terminated", status
            expected = "ended: it was idle longer than the backend's idle timeout."
            assert status["message"].endswith(expected)
            assert status["reason"] == "idle-timeout"  # editors decide from this, not timing
            assert "idleRemainingSeconds" not in status
            pushed = h.of("backendai/sessionStatus")[-1]
            assert (pushed["status"], pushed["message"]) == ("terminated", status["message"])
            assert pushed["reason"] == "idle-timeout"


def test_facts_read_from_both_spellings() -> None:
    newest = {"idleChecks": {"a": {"remaining": 9.5}, "b": {"remaining": 3}}}
    graphql = {"idle_checks": '{"network_timeout": {"remaining": 12}}'}
    assert idle_remaining(newest) == 3.0
    assert idle_remaining(graphql) == 12.0
    assert idle_remaining({"idleChecks": {"utilization": {"remaining": None}}}) is None
    assert ended_because({"statusInfo": "None"}) is None
    assert ended_because({"status_info": "oom-killed"}) == "the backend says: oom-killed"


def test_every_backend_reason_maps_into_the_closed_set() -> None:
    for raw in REASON_CODES:
        assert reason_code({"statusInfo": raw}) in SESSION_REASONS
    assert reason_code({"statusInfo": "session-lifetime"}) == "lifetime-exceeded"
    assert reason_code({"status_info": "oom-killed"}) == "terminated-by-backend"
    assert reason_code({}) == "terminated-by-backend"


def test_resources_lifetime_and_pending_reason_as_managers_report_them() -> None:
    from bai_lsp.domain.session_facts import lifetime_remaining, pending_reason, resources

    # What the real manager 26.9.6 answered (GET /session/{id}, v9): a repr with Decimals.
    newest = {
        "status": "RUNNING",
        "requestedSlots": "{'mem': Decimal('1073741824.000000'), 'cpu': Decimal('1.000000')}",
        "occupiedSlots": "{'cpu': Decimal('1.000000'), 'mem': Decimal('1073741824.000000')}",
        "idleChecks": {
            "session_lifetime": {"remaining": None, "remaining_time_type": "expire_after"}
        },
    }
    assert resources(newest) == {
        "requested": {"mem": "1073741824", "cpu": "1"},
        "occupied": {"cpu": "1", "mem": "1073741824"},
    }
    assert lifetime_remaining(newest) is None and idle_remaining(newest) is None
    # 23.09's repr of strings, and a lifetime that is not an idle timeout.
    old = {
        "requestedSlots": "{'cpu': '2', 'mem': '4294967296'}",
        "idleChecks": {
            "session_lifetime": {"remaining": 3600},
            "network_timeout": {"remaining": 120},
        },
    }
    assert resources(old) == {"requested": {"cpu": "2", "mem": "4294967296"}, "occupied": {}}
    assert (lifetime_remaining(old), idle_remaining(old)) == (3600.0, 120.0)
    waiting = {"status": "PENDING", "statusData": {"scheduler": {"msg": "no room in default"}}}
    assert pending_reason(waiting) == "no room in default"
    assert pending_reason({"status": "RUNNING", "statusInfo": "x"}) is None
