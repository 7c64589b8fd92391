"""Seed example "Script execution (batch mode)".

Changed:
* ``kern.execute(...)`` → ``compute_sess.execute(...)``: ``kern`` is never defined.
* ``mode = "continued"`` → ``"continue"`` (see query_mode.py).
* ``handle_media`` defined as in query_mode.py (the seed's loop calls it).

``mycode.py`` and ``setup.py`` are read from the current directory, as in the seed. On the
embedded gateway build ``"*"`` for a Python image runs ``make`` when a Makefile was uploaded
and otherwise has nothing to build (it never pip-installs into the user's machine).
"""

import sys

from ai.backend.client.session import Session


def handle_media(record):
    if record[0] == "media":  # the SDK's console item: ["media", [mime_type, data]]
        media_type, media_data = record[1]
    else:
        media_type, media_data = record
    print(f"[media {media_type}] {media_data[:60]}")


with Session() as session:
    compute_sess = session.ComputeSession.get_or_create("python:3.6-ubuntu18.04")
    compute_sess.upload(["mycode.py", "setup.py"])
    code = ""
    mode = "batch"
    run_id = None
    opts = {
        "build": "*",  # calls "python setup.py install"
        "exec": "python mycode.py arg1 arg2",
    }
    try:
        while True:
            result = compute_sess.execute(run_id, code, mode=mode, opts=opts)
            opts.clear()
            run_id = result["runId"]
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
            else:
                mode = "continue"
                code = ""
    finally:
        compute_sess.destroy()
