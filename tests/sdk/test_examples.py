"""Every example of the seed (shared/seeds/backendai-client-examples.rst), run by the official
SDK against the embedded gateway; each test asserts what the example prints.

The scripts are in tests/sdk/examples/, changed only where the seed has typos (each change is
listed in docs/sdk-conformance.md).
"""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from .conftest import SdkRunner

pytestmark = [pytest.mark.sdk, pytest.mark.slow]


def _printed(text: str) -> Any:
    """A value an example printed: a literal, or the SDK's ``OrderedDict([...])``."""
    node = ast.parse(text.strip(), mode="eval").body
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "OrderedDict":
        return dict(ast.literal_eval(node.args[0]) if node.args else [])
    return ast.literal_eval(node)


def _versions(stdout: str) -> dict[str, Any]:
    value = _printed(stdout)
    assert isinstance(value, dict), stdout
    return value


# -- configuration ---------------------------------------------------------------------


def test_config_from_environment_prints_versions(sdk: SdkRunner) -> None:
    out = sdk.example("config_env.py").check()
    versions = _versions(out.stdout)
    assert versions["version"] == sdk.api_version
    assert versions["manager"]


def test_explicit_config_prints_versions(sdk: SdkRunner) -> None:
    out = sdk.example("config_explicit.py").check()
    assert _versions(out.stdout)["version"] == sdk.api_version


def test_asyncio_session_prints_versions(sdk: SdkRunner) -> None:
    out = sdk.example("async_session.py").check()
    assert _versions(out.stdout)["version"] == sdk.api_version


def test_wrong_secret_key_is_refused_with_auth_failed(sdk: SdkRunner) -> None:
    out = sdk.example("create_destroy.py", env={"BACKEND_SECRET_KEY": "not-the-secret"})
    assert out.returncode != 0
    assert "401" in out.stderr and "auth-failed" in out.stderr, out.describe()
    assert "not-the-secret" not in out.stdout + out.stderr


# -- compute sessions ------------------------------------------------------------------


def test_paginated_listing_of_45_running_sessions(fresh_sdk: SdkRunner) -> None:
    created = fresh_sdk.call("create", "bash", "listed", "47")["sessions"]
    assert len(created) == 47 and {s["status"] for s in created} == {"RUNNING"}
    # Two of them end: the RUNNING filter must leave them out.
    gone = [created[3]["name"], created[30]["name"]]
    fresh_sdk.call("destroy", *gone)
    running = {s["id"] for s in created if s["name"] not in gone}

    out = fresh_sdk.example("list_sessions.py").check()
    items = [_printed(line) for line in out.stdout.splitlines()]
    ids = [item["id"] for item in items]
    assert len(ids) == 45 and set(ids) == running, out.stdout
    assert all(item["status"] == "RUNNING" for item in items)
    assert all(item["type"] == "INTERACTIVE" for item in items)

    # The pages the example walked through: 20 + 20 + 5, disjoint, total_count 45 each time.
    pages = fresh_sdk.call("pages", "RUNNING", "20")["pages"]
    assert [p["offset"] for p in pages] == [0, 20, 40]
    assert [len(p["items"]) for p in pages] == [20, 20, 5]
    assert {p["total_count"] for p in pages} == {45}
    assert [i["id"] for p in pages for i in p["items"]] == ids


def test_get_or_create_with_mounts_and_resources_prints_session_id(sdk: SdkRunner) -> None:
    out = sdk.example("create_destroy.py").check()
    session_id = uuid.UUID(out.stdout.strip())
    # The vfolders exist as folders under the gateway's data dir, created on demand.
    for name in ("mydata", "mymodel"):
        assert (sdk.data_dir / "vfolders" / name).is_dir()
    # The ended session is still in the GraphQL list, with what it was created with.
    found = sdk.call("find", "TERMINATED", str(session_id), "status", "mounts", "requested_slots")[
        "item"
    ]
    assert found is not None, "the destroyed session is missing from the TERMINATED list"
    assert found["status"] == "TERMINATED"
    assert sorted(found["mounts"]) == ["mydata", "mymodel"]
    # Recorded as asked (32g in bytes); locally they are advisory.
    assert json.loads(found["requested_slots"]) == {
        "cpu": "8",
        "mem": str(32 * 2**30),
        "cuda.device": "2",
    }
    # destroy() really ended it: the id now answers 404.
    gone = sdk.call("info", str(session_id))
    kind = "entity-not-found" if sdk.flavour.newest else "object-not-found"
    assert gone == {"error": {"status": 404, "type": f"https://api.backend.ai/probs/{kind}"}}


# -- code execution ----------------------------------------------------------------------


def test_query_mode_prints_hello_world(sdk: SdkRunner) -> None:
    out = sdk.example("query_mode.py").check()
    assert out.stdout == "hello world\n"


def test_query_mode_answers_an_input_prompt(sdk: SdkRunner) -> None:
    code = 'name = input("Your name: ")\nprint(f"hello {name}!")'
    out = sdk.example("query_mode.py", env={"EXAMPLE_CODE": code}, stdin="Alice\n").check()
    assert "Your name: " in out.stdout
    assert "hello Alice!" in out.stdout
    # input() — not getpass() — answered it: no password prompt on the client side.
    assert "Password" not in out.stderr


def test_query_mode_flags_a_password_prompt(sdk: SdkRunner) -> None:
    code = 'import getpass\npw = getpass.getpass("Token: ")\nprint(f"token of {len(pw)} chars")'
    out = sdk.example("query_mode.py", env={"EXAMPLE_CODE": code}, stdin="s3cret\n").check()
    assert "Token: " in out.stdout
    assert "token of 6 chars" in out.stdout
    # options.is_password made the example call getpass.getpass(), whose prompt is this:
    assert "Password: " in out.stderr
    assert "s3cret" not in out.stdout


MEDIA_CODE = """
import base64
from IPython.display import SVG, Image, display
svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4"/></svg>'
display(SVG(svg))
png = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)
display(Image(data=png, format="png"))
print("drawn")
"""


def test_query_mode_hands_media_records_to_handle_media(sdk: SdkRunner) -> None:
    out = sdk.example("query_mode.py", env={"EXAMPLE_CODE": MEDIA_CODE}).check()
    lines = out.stdout.splitlines()
    assert any(line.startswith("[media image/svg+xml] <svg") for line in lines), out.stdout
    assert any(
        line.startswith("[media image/png] data:image/png;base64,iVBORw0KGgo") for line in lines
    ), out.stdout
    assert "drawn" in lines


def test_batch_mode_uploads_builds_and_executes(sdk: SdkRunner) -> None:
    work: Path = sdk.workdir
    (work / "mycode.py").write_text(
        "import pathlib, sys\n"
        "print('args:', sys.argv[1:])\n"
        "print('setup.py uploaded:', pathlib.Path('setup.py').is_file())\n"
    )
    (work / "setup.py").write_text("print('this is setup.py')\n")
    out = sdk.example("batch_mode.py").check()
    assert "args: ['arg1', 'arg2']" in out.stdout
    assert "setup.py uploaded: True" in out.stdout


def test_stream_execute_prints_hello_world(sdk: SdkRunner) -> None:
    out = sdk.example("stream_execute.py").check()
    assert out.stdout == "hello world\n"


def test_stream_execute_delivers_media_records(sdk: SdkRunner) -> None:
    out = sdk.example("stream_execute.py", env={"EXAMPLE_CODE": MEDIA_CODE}).check()
    lines = out.stdout.splitlines()
    assert any(line.startswith("[media image/svg+xml] <svg") for line in lines), out.stdout
    assert any(line.startswith("[media image/png] data:image/png;base64,") for line in lines)
    assert "drawn" in lines


def test_stream_execute_answers_input_and_password_prompts(sdk: SdkRunner) -> None:
    code = (
        "import getpass\n"
        'name = input("Your name: ")\n'
        'pw = getpass.getpass("Token: ")\n'
        'print(f"{name} sent {len(pw)} chars")\n'
    )
    out = sdk.example("stream_execute.py", env={"EXAMPLE_CODE": code}, stdin="Bob\nhunter2\n")
    out.check()
    assert "Your name: " in out.stdout and "Token: " in out.stdout
    assert "Bob sent 7 chars" in out.stdout
    assert out.stderr.count("Password: ") == 1


# -- beyond the seed: the SDK's interrupt() ------------------------------------------------


def test_sdk_interrupt_stops_an_endless_query(sdk: SdkRunner) -> None:
    code = 'print("started", flush=True)\nwhile True:\n    pass'
    result = sdk.call("interrupt", "python:3.9-ubuntu20.04", "query", code)
    assert result["interrupted"] and result["status"] == "finished", result
    assert "KeyboardInterrupt" in result["stderr"]


def test_sdk_interrupt_stops_an_endless_batch_command(sdk: SdkRunner) -> None:
    result = sdk.call("interrupt", "bash", "batch", "echo started; while true; do :; done")
    assert result["interrupted"] and result["status"] == "finished", result
    assert result["exitCode"] == 130  # 128 + SIGINT, as a shell reports it


# -- beyond the seed: the SDK's complete() --------------------------------------------------


def test_sdk_complete_offers_names_from_the_live_kernel(sdk: SdkRunner) -> None:
    setup = "import json\nxs = [3, 1, 2]"
    answer = sdk.call("complete", "python:3.9-ubuntu20.04", setup, "json.du")["answer"]
    # The SDK returns the whole JSON answer, as a manager sends it.
    assert answer["result"]["status"] == "finished", answer
    assert "json.dumps" in answer["result"]["completions"], answer
    answer = sdk.call("complete", "python:3.9-ubuntu20.04", setup, "xs.app")["answer"]
    assert "xs.append" in answer["result"]["completions"], answer
