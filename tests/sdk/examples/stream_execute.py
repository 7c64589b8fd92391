"""Seed example "Asynchronous mode" (streaming execute over a WebSocket).

Changed:
* ``get_or_create(..., client_token="mysession")`` → ``name="mysession"`` (renamed in the SDK
  long ago; ``client_token`` is a TypeError).
* ``stream.send_text(code)`` → ``stream.send_str(code)`` (aiohttp's WebSocket method name).
* ``import getpass`` and ``handle_media`` (used by the seed's loop, not defined there).
* The snippet defaults to the seed's ``print("hello world")``; EXAMPLE_CODE replaces it so the
  input branch can be exercised.
The seed's ``mode = "continued"`` in the last branch is kept: on a stream it is never sent.
"""

import asyncio
import getpass
import json
import os
import sys

import aiohttp
from ai.backend.client.session import AsyncSession


def handle_media(record):
    if record[0] == "media":  # the SDK's console item: ["media", [mime_type, data]]
        media_type, media_data = record[1]
    else:
        media_type, media_data = record
    print(f"[media {media_type}] {media_data[:60]}")


async def main():
    async with AsyncSession() as api_session:
        compute_sess = await api_session.ComputeSession.get_or_create(
            "python:3.6-ubuntu18.04",
            name="mysession",
        )
        code = os.environ.get("EXAMPLE_CODE", 'print("hello world")')
        mode = "query"
        try:
            async with compute_sess.stream_execute(code, mode=mode) as stream:
                # no need for explicit run_id since WebSocket connection represents it!
                async for result in stream:
                    if result.type != aiohttp.WSMsgType.TEXT:
                        continue
                    result = json.loads(result.data)
                    for rec in result.get("console", []):
                        if rec[0] == "stdout":
                            print(rec[1], end="", file=sys.stdout)
                        elif rec[0] == "stderr":
                            print(rec[1], end="", file=sys.stderr)
                        else:
                            handle_media(rec)
                    sys.stdout.flush()
                    if result["status"] == "finished":
                        break
                    elif result["status"] == "waiting-input":
                        mode = "input"
                        if result["options"].get("is_password", False):
                            code = getpass.getpass()
                        else:
                            code = input()
                        await stream.send_str(code)
                    else:
                        mode = "continued"
                        code = ""
        finally:
            await compute_sess.destroy()


if __name__ == "__main__":
    asyncio.run(main())
