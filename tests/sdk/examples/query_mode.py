"""Seed examples "Snippet execution (query mode)", "Handling user inputs" and "Handling
multi-media outputs", put together as the seed describes (the input if-block replaces the
status check of the loop; ``handle_media`` is the function the loop calls).

Changed:
* ``mode = "continued"`` → ``"continue"``: the SDK only accepts query, continue, input, batch
  and complete (``"continued"`` is a *status*; the client raises "Invalid execution mode").
* ``handle_media``: a console item is ``["media", [mime_type, data]]``, not ``[mime_type,
  data]`` as the seed says; the body prints what it got instead of the seed's ``...``.
* ``import getpass`` (used by the input block, missing from the seed).
* The snippet defaults to the seed's ``print("hello world")``; EXAMPLE_CODE replaces it so the
  same loop shows the input and media sections with code that asks for input or draws.
"""

import getpass
import os
import sys

from ai.backend.client.session import Session


def handle_media(record):
    if record[0] == "media":  # the SDK's console item: ["media", [mime_type, data]]
        media_type, media_data = record[1]
    else:  # other record types, e.g. ["html", markup]
        media_type, media_data = record
    print(f"[media {media_type}] {media_data[:60]}")


with Session() as api_session:
    my_session = api_session.ComputeSession.get_or_create("python:3.9-ubuntu20.04")
    code = os.environ.get("EXAMPLE_CODE", 'print("hello world")')
    mode = "query"
    run_id = None
    try:
        while True:
            result = my_session.execute(run_id, code, mode=mode)
            run_id = result["runId"]  # keeps track of this particular run loop
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
            else:
                mode = "continue"
                code = ""
    finally:
        my_session.destroy()
