"""Test-side SDK calls (not a seed example): set up and inspect state through the official SDK.

Run with .venv-sdk/bin/python; prints one JSON document on stdout.

    sdkcall.py create IMAGE PREFIX COUNT   → {"sessions": [{"id", "name"}...]}
    sdkcall.py destroy NAME...             → {"destroyed": [NAME...]}
    sdkcall.py pages STATUS PAGE_SIZE      → {"pages": [{"offset", "total_count", "items"}]}
    sdkcall.py info REF                    → {"info": {...}} or {"error": {"status", "type"}}
    sdkcall.py find STATUS ID FIELD...     → {"item": {FIELD...} or null} from the GraphQL list
    sdkcall.py interrupt IMAGE MODE CODE   → {"status", "exitCode", "stdout", "stderr"} of a run
                                             interrupted once it printed "started"
    sdkcall.py complete IMAGE SETUP CODE     → {"completions": ComputeSession.complete(CODE)}
                                             after running SETUP in a new session
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any

from ai.backend.client.exceptions import BackendAPIError
from ai.backend.client.output.types import FieldSpec
from ai.backend.client.session import AsyncSession

#: Concurrent creations; enough to be quick without starving a 2-core machine.
PARALLEL = 6


async def create(image: str, prefix: str, count: int) -> dict[str, Any]:
    sem = asyncio.Semaphore(PARALLEL)
    async with AsyncSession() as api:

        async def one(i: int) -> dict[str, str]:
            async with sem:
                sess = await api.ComputeSession.get_or_create(image, name=f"{prefix}-{i:03d}")
                return {"id": str(sess.id), "name": sess.name, "status": sess.status}

        return {"sessions": list(await asyncio.gather(*(one(i) for i in range(count))))}


async def destroy(names: list[str]) -> dict[str, Any]:
    async with AsyncSession() as api:
        for name in names:
            await api.ComputeSession(name).destroy()
    return {"destroyed": names}


async def pages(status: str, page_size: int) -> dict[str, Any]:
    fields_out = []
    async with AsyncSession() as api:
        offset = 0
        while True:
            result = await api.ComputeSession.paginated_list(
                status=status, page_offset=offset, page_size=page_size
            )
            fields_out.append(
                {"offset": offset, "total_count": result.total_count, "items": result.items}
            )
            offset += len(result.items)
            if not result.items or offset >= result.total_count:
                break
    return {"pages": fields_out}


async def info(ref: str) -> dict[str, Any]:
    async with AsyncSession() as api:
        try:
            session_id = uuid.UUID(ref)
        except ValueError:
            sess = api.ComputeSession(ref)
        else:
            sess = api.ComputeSession.from_session_id(session_id)
        try:
            return {"info": await sess.get_info()}
        except BackendAPIError as exc:
            return {"error": {"status": exc.status, "type": exc.data.get("type")}}


async def find(status: str, session_id: str, fields: list[str]) -> dict[str, Any]:
    specs = [FieldSpec(name) for name in ("id", *fields)]
    async with AsyncSession() as api:
        offset = 0
        while True:
            result = await api.ComputeSession.paginated_list(
                status=status, fields=specs, page_offset=offset, page_size=100
            )
            for item in result.items:
                if item["id"] == session_id:
                    return {"item": item}
            offset += len(result.items)
            if not result.items or offset >= result.total_count:
                return {"item": None}


async def interrupt(image: str, mode: str, code: str) -> dict[str, Any]:
    async with AsyncSession() as api:
        sess = await api.ComputeSession.get_or_create(image)
        try:
            opts = {"exec": code} if mode == "batch" else None
            result = await sess.execute(None, "" if mode == "batch" else code, mode=mode, opts=opts)
            run_id = result["runId"]
            out: dict[str, list[str]] = {"stdout": [], "stderr": []}
            interrupted = False
            while True:
                for kind, text in result.get("console", []):
                    if kind in out:
                        out[kind].append(text)
                if result["status"] in ("finished", "exec-timeout"):
                    break
                if not interrupted and "started" in "".join(out["stdout"]):
                    await sess.interrupt()
                    interrupted = True
                result = await sess.execute(run_id, "", mode="continue")
            return {
                "interrupted": interrupted,
                "status": result["status"],
                "exitCode": result.get("exitCode"),
                "stdout": "".join(out["stdout"]),
                "stderr": "".join(out["stderr"]),
            }
        finally:
            await sess.destroy()


async def complete(image: str, setup: str, code: str) -> dict[str, Any]:
    async with AsyncSession() as api:
        name = f"sdk-complete-{uuid.uuid4().hex[:8]}"
        sess = await api.ComputeSession.get_or_create(image, name=name)
        try:
            result = await sess.execute(None, setup, mode="query")
            while result["status"] != "finished":
                result = await sess.execute(result["runId"], "", mode="continue")
            return {"answer": await sess.complete(code)}
        finally:
            await sess.destroy()


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "create":
        out = create(args[0], args[1], int(args[2]))
    elif command == "destroy":
        out = destroy(args)
    elif command == "pages":
        out = pages(args[0], int(args[1]))
    elif command == "info":
        out = info(args[0])
    elif command == "find":
        out = find(args[0], args[1], args[2:])
    elif command == "interrupt":
        out = interrupt(args[0], args[1], args[2])
    elif command == "complete":
        out = complete(args[0], args[1], args[2])
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(asyncio.run(out), default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
