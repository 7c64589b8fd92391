"""One request sequence, sent to the real manager 26.9.6 and to the embedded gateway in v9 mode.

For every step the test compares what a client can rely on: the status code, the problem
`type` and `error_code` of an error, the key set of a JSON answer (recursively for the known
nested objects), and the names and data keys of the lifecycle events. The sequence follows the
seed's SDK examples (create, reuse, info, query, upload + batch, files, listing, destroy) plus
the error cases a user meets (bad signature, skewed date, unknown image, bad name, unknown
session, destroy twice). Differences that stay are listed in `KNOWN` with docs/dialects.md
explaining each; a new difference, or a listed one that went away, fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.gateway import GatewayInfo, start_gateway, stop_gateway_process
from support.realbackendai.cluster import Cluster
from support.signed import SignedClient

from bai_lsp.wire import versions

V9 = versions.V9


class V9Client(SignedClient):
    """Signs every request as API v9 (what bai-lsp's client negotiates with both)."""

    def headers(self, method: str, url: Any, content_type: str, **overrides: Any) -> dict[str, str]:
        overrides.setdefault("version", V9)
        return super().headers(method, url, content_type, **overrides)


def shape(value: Any, depth: int = 0) -> Any:
    """What a client can rely on in an answer: keys (recursively), not values."""
    if isinstance(value, dict) and depth < 3:
        return {k: shape(v, depth + 1) for k, v in sorted(value.items())}
    if isinstance(value, dict):
        return sorted(value)
    if isinstance(value, list):
        return [shape(value[0], depth + 1)] if value and isinstance(value[0], dict) else "list"
    return type(value).__name__ if value is not None else "null"


def problem(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {"body": shape(body)}
    return {k: body.get(k) for k in ("type", "error_code") if k in body}


async def run_sequence(c: V9Client, name: str) -> dict[str, Any]:
    """The steps, each reduced to what is compared."""
    out: dict[str, Any] = {}

    async def step(label: str, method: str, path: str, *, keep: str = "shape", **kw: Any) -> Any:
        status, body = await c.call(method, path, **kw)
        out[label] = {"status": status, keep: shape(body) if keep == "shape" else problem(body)}
        return body

    async with c.http.get(c.url("/")) as response:
        out["versions"] = {"status": response.status, "shape": shape(await response.json())}
    create = {"image": "python", "session_name": name, "sessionName": name, "config": {}}
    await step("create", "POST", "/session", json_body=create)
    await step("create again (reuse)", "POST", "/session", json_body=create)
    # top-level keys only: inner values (idle checks' remaining time, …) change as it runs
    status, info = await c.call("GET", f"/session/{name}")
    out["info"] = {"status": status, "keys": sorted(info) if isinstance(info, dict) else info}
    run_id = uuid.uuid4().hex[:16]
    query = {"mode": "query", "run_id": run_id, "runId": run_id, "code": "print(6 * 7)"}
    # how many polls a run takes is timing, not dialect: the final answer is compared
    status, answer = await c.call("POST", f"/session/{name}", json_body=query)
    while isinstance(answer, dict) and answer.get("result", {}).get("status") == "continued":
        more = {"mode": "continue", "run_id": run_id, "runId": run_id, "code": ""}
        status, answer = await c.call("POST", f"/session/{name}", json_body=more)
    out["execute query"] = {"status": status, "shape": shape(answer)}
    form = aiohttp.FormData()
    form.add_field("src", b"print('batch', 6 * 7)\n", filename="main.py")
    await step("upload", "POST", f"/session/{name}/upload", data=form, content_type=None)
    await step("list files", "GET", f"/session/{name}/files", params={"path": "."})
    batch_id = uuid.uuid4().hex[:16]
    batch = {
        "mode": "batch", "run_id": batch_id, "runId": batch_id, "code": "",
        "options": {"clean": "", "build": "", "exec": "python main.py"},
    }  # fmt: skip
    await step("execute batch", "POST", f"/session/{name}", json_body=batch)
    gql = {
        "query": "query($limit: Int!, $offset: Int!) { compute_session_list(limit: $limit, "
        "offset: $offset) { total_count items { id name status status_info } } }",
        "variables": {"limit": 5, "offset": 0},
    }
    await step("graphql listing", "POST", "/admin/gql", json_body=gql)
    await step("destroy", "DELETE", f"/session/{name}")
    for _ in range(60):  # both tear down asynchronously in v9
        status, _ = await c.call("GET", f"/session/{name}")
        if status == 404:
            break
        await asyncio.sleep(0.5)
    await step("destroy twice", "DELETE", f"/session/{name}", keep="problem")
    await step("unknown session", "GET", f"/session/no-such-{name}", keep="problem")
    await step(
        "unknown image", "POST", "/session", keep="problem",
        json_body={"image": "no-such-image:0", "session_name": f"{name}-x", "config": {}},
    )  # fmt: skip
    await step(
        "bad name", "POST", "/session", keep="problem",
        json_body={"image": "python", "session_name": "bad name!", "config": {}},
    )  # fmt: skip
    if out["bad name"]["status"] == 201:  # 26.9.6 takes it: do not leave it running
        await c.call("DELETE", "/session/bad name!")
    await step(
        "bad signature", "GET", "/session/anything", keep="problem",
        sign={"secret_key": "x" * 40},
    )  # fmt: skip
    skewed = datetime.now(UTC) - timedelta(hours=1)
    await step("skewed date", "GET", "/session/anything", keep="problem", sign={"date": skewed})
    return out


async def lifecycle_events(c: V9Client, name: str) -> dict[str, list[str]]:
    """The SSE events of one session from creation to its end: name -> data keys (the order
    of kernel and session events is timing)."""
    seen: dict[str, list[str]] = {}

    async def listen() -> None:
        async with c.get_stream("/events/session", {"sessionName": "*"}) as response:
            event = ""
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event:
                    data = json.loads(line.split(":", 1)[1])
                    if data.get("sessionName") == name:
                        seen[event] = sorted(data)
                        if event == "session_terminated":
                            return

    listener = asyncio.ensure_future(listen())
    await asyncio.sleep(1)
    await c.call("POST", "/session", json_body={"image": "python", "session_name": name,
                                                "sessionName": name, "config": {}})  # fmt: skip
    await c.call("DELETE", f"/session/{name}")
    try:
        await asyncio.wait_for(listener, 90)
    finally:
        listener.cancel()
        with contextlib.suppress(BaseException):
            await listener
    return seen


#: Differences that stay, by step: [real manager, gateway]. docs/dialects.md says why.
KNOWN: dict[str, Any] = json.loads((Path(__file__).parent / "known_differences.json").read_text())


@pytest.fixture(scope="module")
def v9_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayInfo]:
    info = start_gateway(tmp_path_factory.mktemp("gateway-v9"), args=["--api-version", "v9"])
    try:
        yield info
    finally:
        stop_gateway_process(info.process)


def differences(real: dict[str, Any], ours: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        label: (real.get(label), ours.get(label))
        for label in sorted(set(real) | set(ours))
        if real.get(label) != ours.get(label)
    }


async def test_the_gateway_answers_like_the_real_manager(
    realmgr: Cluster, v9_gateway: GatewayInfo, tmp_path: Path
) -> None:
    name = f"diff-{uuid.uuid4().hex[:8]}"
    async with V9Client(realmgr.endpoint, realmgr.access_key, realmgr.secret_key) as c:
        real = await run_sequence(c, name)
        real_events = await lifecycle_events(c, name + "-ev")
    async with V9Client(v9_gateway.endpoint, v9_gateway.access_key, v9_gateway.secret_key) as c:
        ours = await run_sequence(c, name)
        our_events = await lifecycle_events(c, name + "-ev")
    real["events"], ours["events"] = real_events, our_events
    found = json.loads(json.dumps(differences(real, ours)))  # tuples as the JSON file has them
    print(json.dumps(found, indent=1))
    assert sorted(found) == sorted(KNOWN)
    for label, pair in KNOWN.items():
        assert found[label] == pair, label
