"""The official SDK's command line (``backend.ai`` 23.9.10) against the embedded gateway:
``run`` in query and batch mode (Python and C, uploading files, --build/--exec), ``ps``, ``rm``.

``backend.ai run`` always uses the streaming execute WebSocket; its progress lines go to
stderr, the program's own output to stdout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from support.gateway import start_gateway, stop_gateway_process

from .conftest import SdkFlavour, SdkRunner, gateway_args, make_runner

pytestmark = [pytest.mark.sdk, pytest.mark.slow]


def not_found(sdk: SdkRunner) -> dict[str, Any]:
    """An unknown session: 23.09 calls it an object, the newest manager an entity."""
    kind = "entity-not-found" if sdk.flavour.newest else "object-not-found"
    return {"error": {"status": 404, "type": f"https://api.backend.ai/probs/{kind}"}}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_run_inline_code_in_query_mode(sdk: SdkRunner) -> None:
    out = sdk.cli("run", "--rm", "-t", "cli-inline", "python", "-c", "print(6 * 7)").check()
    assert out.stdout == "42\n", out.describe()
    assert "Session cli-inline is ready" in out.stderr
    assert "Execution finished. (exit code = 0)" in out.stderr
    assert "Cleaned up the session." in out.stderr
    assert sdk.call("info", "cli-inline") == not_found(sdk)


def test_run_query_mode_answers_input(sdk: SdkRunner) -> None:
    code = 'n = int(input("how many? "))\nprint("*" * n)'
    image = "cr.backend.ai/stable/python:3.9-ubuntu20.04"  # a registry-qualified name works
    out = sdk.cli("run", "--rm", "-t", "cli-input", image, "-c", code, stdin="5\n").check()
    assert "how many? " in out.stdout
    assert "*****\n" in out.stdout


@pytest.mark.parametrize(
    ("image", "code"),
    [
        ("bash", 'echo $((6 * 7)); read n; echo "hi $n"'),
        ("node", "console.log(6 * 7); console.log('hi Zed')"),
        ("c", '#include <stdio.h>\nint main(void) { printf("%d\\nhi Zed\\n", 6 * 7); }'),
    ],
)
def test_run_inline_code_on_other_images(sdk: SdkRunner, image: str, code: str) -> None:
    out = sdk.cli("run", "--rm", image, "-c", code, stdin="Zed\n").check()
    assert out.stdout == "42\nhi Zed\n", out.describe()
    assert "Execution finished. (exit code = 0)" in out.stderr


def test_run_with_environment_mount_and_resources(sdk: SdkRunner) -> None:
    vfolder = sdk.data_dir / "vfolders" / "cli-vol"
    vfolder.mkdir(parents=True, exist_ok=True)
    (vfolder / "note.txt").write_text("kept in a vfolder")
    code = (
        "import os\n"
        "print(os.environ['GREETING'])\n"
        "print(open('cli-vol/note.txt').read())\n"
        "_ = open('cli-vol/from-session.txt', 'w').write('written by the session')\n"
    )
    out = sdk.cli(
        "run",
        "--rm",
        "-e",
        "GREETING=hi there",
        "-m",
        "cli-vol",
        "-r",
        "cpu=2",
        "python",
        "-c",
        code,
    ).check()
    assert out.stdout == "hi there\nkept in a vfolder\n", out.describe()
    # The vfolder outlives the session: what the session wrote is there.
    assert (vfolder / "from-session.txt").read_text() == "written by the session"


def test_run_python_file_uses_main_py_by_default(sdk: SdkRunner) -> None:
    _write(sdk.workdir, {"main.py": "import sys\nprint('main.py ran with', sys.argv[1:])\n"})
    out = sdk.cli("run", "--rm", "-t", "cli-pyfile", "python:3.9-ubuntu20.04", "main.py").check()
    assert "main.py ran with []" in out.stdout, out.describe()
    assert "Uploading done." in out.stderr
    assert "Execution finished. (exit code = 0)" in out.stderr


def test_run_python_batch_with_build_and_exec(sdk: SdkRunner) -> None:
    _write(
        sdk.workdir,
        {
            "gen.py": "open('data/words.txt', 'w').write('built')\nprint('build step ran')\n",
            "data/.keep": "",
            "main.py": (
                "import sys\n"
                "words = open('data/words.txt').read()\n"
                "print(f'exec got {sys.argv[1:]} and {words!r}')\n"
            ),
        },
    )
    out = sdk.cli(
        "run",
        "--rm",
        "-t",
        "cli-pybatch",
        "--build",
        "python gen.py",
        "--exec",
        "python main.py one two",
        "python",
        "gen.py",
        "main.py",
        "data/.keep",
    ).check()
    assert "build step ran" in out.stdout, out.describe()
    assert "exec got ['one', 'two'] and 'built'" in out.stdout
    assert "Build finished. (exit code = 0)" in out.stderr
    assert "Execution finished. (exit code = 0)" in out.stderr


C_FILES = {
    "hello.c": (
        "#include <stdio.h>\n"
        '#include "lib/greet.h"\n'
        "int main(int argc, char **argv) {\n"
        "    char name[64];\n"
        '    printf("%s\\n", greet(argc > 1 ? argv[1] : "nobody"));\n'
        '    printf("your name? ");\n'
        '    if (scanf("%63s", name) == 1) printf("%s\\n", greet(name));\n'
        "    return 3;\n"
        "}\n"
    ),
    "lib/greet.h": "const char *greet(const char *who);\n",
    "lib/greet.c": (
        "#include <stdio.h>\n"
        "static char buf[128];\n"
        "const char *greet(const char *who) {\n"
        '    snprintf(buf, sizeof buf, "Hello, %s!", who);\n'
        "    return buf;\n"
        "}\n"
    ),
}


def test_run_c_batch_compiles_uploaded_files_and_answers_scanf(sdk: SdkRunner) -> None:
    _write(sdk.workdir, C_FILES)
    out = sdk.cli(
        "run",
        "--rm",
        "-t",
        "cli-cbatch",
        "--build",
        "gcc -Wall -o hello hello.c lib/greet.c",
        "--exec",
        "./hello world",
        "c",
        "hello.c",
        "lib/greet.c",
        "lib/greet.h",
        stdin="Carol\n",
    ).check()
    assert "Hello, world!" in out.stdout, out.describe()
    assert "your name? " in out.stdout
    assert "Hello, Carol!" in out.stdout
    assert "Build finished. (exit code = 0)" in out.stderr
    assert "Execution finished. (exit code = 3)" in out.stderr


def test_run_c_files_without_commands_builds_and_runs_main(sdk: SdkRunner) -> None:
    # No --build/--exec: the CLI sends "*" for both; a C image compiles *.c into ./main.
    files = {
        "main.c": '#include <stdio.h>\n#include "lib/greet.h"\n'
        'int main(void) { printf("%s\\n", greet("default build")); return 0; }\n',
        "lib/greet.h": C_FILES["lib/greet.h"],
        "greet.c": C_FILES["lib/greet.c"],
    }
    _write(sdk.workdir, files)
    out = sdk.cli("run", "--rm", "gcc:12", "main.c", "greet.c", "lib/greet.h").check()
    assert out.stdout == "Hello, default build!\n", out.describe()
    assert "Build finished. (exit code = 0)" in out.stderr


def test_run_c_batch_build_failure_skips_exec(sdk: SdkRunner) -> None:
    _write(sdk.workdir, {"broken.c": "int main(void) { return undefined_name; }\n"})
    out = sdk.cli(
        "run",
        "--rm",
        "-t",
        "cli-cbroken",
        "--build",
        "gcc -o broken broken.c",
        "--exec",
        "./broken",
        "gcc",
        "broken.c",
    ).check()
    assert "undefined_name" in out.stderr, out.describe()
    assert "Build finished. (exit code = 1)" in out.stderr
    assert "Execution finished. (exit code = 127)" in out.stderr


def _wait_gone(sdk: SdkRunner, name: str, timeout: float = 30.0) -> None:
    """A v9 destroy answers while the session is still TERMINATING; wait until it is gone."""
    deadline = time.monotonic() + timeout
    while sdk.call("info", name) != not_found(sdk) and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.same_on_every_dialect
def test_ps_lists_running_sessions_and_rm_ends_one(sdk: SdkRunner) -> None:
    names = ("cli-kept", "cli-other")
    for name in names:
        sdk.cli("run", "-t", name, "python", "-c", "x = 1").check()
    try:
        table = sdk.cli("ps").check()
        assert all(name in table.stdout for name in names), table.describe()
        listed = sdk.cli("--output", "json", "ps").check().json()
        status = {item["name"]: item["status"] for item in listed["items"]}
        assert status["cli-kept"] == status["cli-other"] == "RUNNING"

        removed = sdk.cli("rm", "cli-kept").check()
        assert "Done." in removed.stderr
        _wait_gone(sdk, "cli-kept")  # at once for 23.09; v9 destroys asynchronously
        assert sdk.call("info", "cli-kept") == not_found(sdk)
        after = sdk.cli("ps").check()
        assert "cli-other" in after.stdout and "cli-kept" not in after.stdout, after.describe()
        again = sdk.cli("rm", "cli-kept")
        assert again.returncode != 0
        assert "No such session" in again.stdout + again.stderr, again.describe()
    finally:
        sdk.cli("rm", *names)


@pytest.mark.same_on_every_dialect
def test_session_files_logs_restart_and_events(sdk: SdkRunner) -> None:
    name = "cli-files"
    code = "x = 1\n_ = open('made.txt', 'w').write('made by code')"
    sdk.cli("run", "-t", name, "python", "-c", code).check()
    # `backend.ai events` follows the session's lifecycle over server-sent events.
    events_log = sdk.workdir / "events.log"
    with events_log.open("w") as sink:
        events = subprocess.Popen(
            [str(sdk.cli_path), "events", name],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=sdk.env(),
            cwd=sdk.workdir,
            start_new_session=True,
        )
    try:
        _write(sdk.workdir, {"a.txt": "alpha\n", "sub/b.txt": "beta\n"})
        up = sdk.cli("session", "upload", name, "a.txt", "sub/b.txt").check()
        assert "Uploaded." in up.stdout + up.stderr, up.describe()
        listing = sdk.cli("session", "ls", name).check()
        for entry in ("a.txt", "made.txt", "sub"):
            assert entry in listing.stdout, listing.describe()
        dest = sdk.workdir / "downloaded"
        dest.mkdir()
        sdk.cli("session", "download", "--dest", str(dest), name, "made.txt", "sub/b.txt").check()
        assert (dest / "made.txt").read_text() == "made by code"
        assert (dest / "b.txt").read_text() == "beta\n"
        logs = sdk.cli("session", "logs", name).check()
        assert "End of logs." in logs.stderr, logs.describe()

        restarted = sdk.cli("restart", name)
        if sdk.flavour.newest:
            # The newest manager refuses restart (501); the way to a fresh kernel is rm + run.
            assert restarted.returncode != 0
            assert "501" in restarted.stderr, restarted.describe()
            sdk.cli("rm", name).check()
            _wait_gone(sdk, name)
        else:
            restarted.check()
        after = sdk.cli("run", "-t", name, "python", "-c", "print('x' in globals())").check()
        assert ("Reusing session cli-files" in after.stderr) != sdk.flavour.newest
        assert after.stdout == "False\n", "restart must give a fresh kernel"
        assert (dest / "made.txt").exists()
    finally:
        sdk.cli("rm", name)
        # The event stream never ends by itself (the SDK reconnects): wait for the
        # termination event, then stop the follower.
        deadline = time.monotonic() + 30
        while "session_terminated" not in events_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(events.pid, signal.SIGTERM)
        events.wait(timeout=10)
    out = events_log.read_text()
    seen = dict(line.split(" ", 1) for line in out.splitlines() if line.startswith("session_"))
    assert "session_terminated" in seen, out
    terminated = json.loads(seen["session_terminated"])
    assert terminated["sessionName"] == name
    assert terminated["reason"] == "user-requested"


@pytest.mark.same_on_every_dialect
def test_web_session_mode_login_run_logout(flavour: SdkFlavour, tmp_path: Path) -> None:
    """``endpoint_type=session``: the CLI logs in to the web-server surface and runs with the
    login cookie (requests go to ``/func/...``, the stream too); after logout it is refused."""
    info = start_gateway(
        tmp_path / "gw", args=gateway_args(flavour), env={"BACKEND_GATEWAY_PASSWORD": "pw-123"}
    )
    try:
        sdk = make_runner(info, tmp_path, flavour)
        web = {"BACKEND_ENDPOINT_TYPE": "session"}
        web.update(BACKEND_ACCESS_KEY="", BACKEND_SECRET_KEY="")  # no keypair: cookie only
        wrong = sdk.cli("login", env=web, stdin="user@bai-lsp.local\nnot-it\n")
        assert "Login failed." in wrong.stderr, wrong.describe()
        assert "not-it" not in wrong.stdout + wrong.stderr
        sdk.cli("login", env=web, stdin="user@bai-lsp.local\npw-123\n").check()

        out = sdk.cli("run", "--rm", "python", "-c", "print(6 * 7)", env=web).check()
        assert out.stdout == "42\n", out.describe()

        sdk.cli("logout", env=web).check()
        refused = sdk.cli("run", "--rm", "python", "-c", "print(1)", env=web)
        assert "401" in refused.stderr and "auth-failed" in refused.stderr, refused.describe()
        assert refused.stdout == ""
    finally:
        stop_gateway_process(info.process)


@pytest.mark.same_on_every_dialect
def test_run_reuses_by_name_and_reports_conflicts(sdk: SdkRunner) -> None:
    name = "cli-conflict"
    sdk.cli("run", "-t", name, "python", "-c", "x = 41").check()
    try:
        reused = sdk.cli("run", "-t", name, "python", "-c", "print(x + 1)").check()
        assert "Reusing session cli-conflict" in reused.stderr
        assert reused.stdout == "42\n", "the reused session keeps its kernel state"

        other = sdk.cli("run", "-t", name, "bash", "-c", "echo never")
        assert "session-already-exists" in other.stderr, other.describe()
        assert "python" in other.stderr and "bash" in other.stderr  # both images named
        assert "never" not in other.stdout

        no_reuse = sdk.cli("run", "--no-reuse", "-t", name, "python", "-c", "print(1)")
        assert "session-already-exists" in no_reuse.stderr, no_reuse.describe()
        assert "existingSessionId" in no_reuse.stderr
    finally:
        sdk.cli("rm", name)


def test_run_with_an_invalid_session_name_says_what_names_may_be(sdk: SdkRunner) -> None:
    out = sdk.cli("run", "--rm", "-t", "bad name!", "python", "-c", "print(1)")
    assert "invalid-api-params" in out.stderr, out.describe()
    assert "'data': {'name':" in out.stderr  # the field at fault, with the rule
    assert out.stdout == ""


def test_run_with_an_unknown_image_names_the_available_ones(sdk: SdkRunner) -> None:
    out = sdk.cli("run", "--rm", "-t", "cli-badimage", "fortran77", "-c", "x")
    text = out.stdout + out.stderr
    assert "fortran77" in text, out.describe()
    assert "python" in text


def test_ps_on_an_empty_gateway(fresh_sdk: SdkRunner) -> None:
    data = fresh_sdk.cli("--output", "json", "ps").check().json()
    assert data == {"count": 0, "total_count": 0, "items": []}
