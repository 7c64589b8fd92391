"""The VS Code extension in a real VS Code: code-server 4.100.3 driven by Playwright.

One code-server and one headless chromium serve every scenario (the driver,
``vscode_harness/drive.js``, runs them in order and records what the user saw); each test
below asserts one scenario. Setup: ``scripts/setup/30-vscode.sh``. Screenshots and logs land
in ``test-artifacts/vscode/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.gateway import GatewayInfo, start_gateway, stop_gateway_process


def _backend_available() -> bool:
    """The client and the gateway exist (they are written in parallel with the extension)."""
    if "BAI_VSCODE_SERVER" in os.environ:
        return True
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("bai_lsp.backendai.client", "bai_lsp.gateway.cli")
    )


BACKEND = _backend_available()
DRIVER_TIMEOUT = 360
pytestmark = [pytest.mark.editor, pytest.mark.slow, pytest.mark.timeout(DRIVER_TIMEOUT + 120)]

REPO = Path(__file__).resolve().parents[2]
EXT_DIR = REPO / "editor-clients" / "vscode"
VSIX = EXT_DIR / "bai-lsp-vscode.vsix"
HARNESS = Path(__file__).resolve().parent / "vscode_harness"
CODE_SERVER = HARNESS / "node_modules" / ".bin" / "code-server"
CHROMIUM = Path("/usr/bin/chromium")
# BAI_VSCODE_SERVER: another server executable (e.g. a development build) for the same test
SERVER = Path(os.environ.get("BAI_VSCODE_SERVER", REPO / ".venv" / "bin" / "bai-lsp"))
ARTIFACTS = REPO / "test-artifacts" / "vscode"

DEMO = """\
# %% Greeting
import sys, time
for i in range(3):
    print(f"hello from backend.ai {i}", flush=True)
    time.sleep(0.6)
print("\\x1b[32mgreen text\\x1b[0m", flush=True)
sys.stderr.write("warning: this line is on stderr\\n")
sys.stderr.flush()
time.sleep(0.3)
for p in range(0, 101, 25):
    print(f"\\rprogress {p:3d}%", end="", flush=True)
    time.sleep(0.15)
print()
print("done · é漢😀")
# %% Ask
name = input("Your name: ")
import getpass
secret = getpass.getpass("Password: ")
print(f"Hello, {name}! Your password has {len(secret)} characters.")
# %% Loop
import time
i = 0
while True:
    print("tick", i, flush=True)
    i += 1
    time.sleep(0.2)
# %% Plot
import matplotlib.pyplot as plt
plt.figure(figsize=(4, 3))
plt.plot([1, 3, 2, 4], marker="o")
plt.title("bai-lsp")
plt.show()
from IPython.display import SVG, display
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60">'
            '<rect width="120" height="60" fill="#2b7"/><text x="10" y="38">SVG</text></svg>'))
"""

# batch mode uploads the workspace: the job reads a file that only exists locally
BATCH_JOB = """\
import pathlib
print("data:", pathlib.Path("data.txt").read_text().strip())
"""

FLOOD = """\
for i in range(20000):
    print(f"line {i}")
"""
MAX_LINES = 1000
#: the test's own gateway ends idle sessions after this long: under 5 minutes, so the
#: "countdown" scenario sees both the countdown and the warning
IDLE_TIMEOUT_S = 200

USER_SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "update.mode": "none",
    "workbench.enableExperiments": False,
    "chat.disableAIFeatures": True,
    "editor.minimap.enabled": False,
    "remote.autoForwardPorts": False,
    "backendai.view.maxLines": MAX_LINES,
}

#: Destroys a session from outside, as another client or an administrator would.
DESTROY_SESSION = """\
import asyncio, sys
from bai_lsp.backendai import APIConfig, BackendAIClient

async def main(endpoint, access_key, secret_key, name):
    config = APIConfig(endpoint=endpoint, access_key=access_key, secret_key=secret_key,
                       vfolder_mounts=())
    async with BackendAIClient(config) as client:
        try:
            await client.destroy(name, forced=True)
        except Exception as exc:  # it may be gone before the destroy's own check
            print("destroy:", type(exc).__name__)

asyncio.run(main(*sys.argv[1:]))
"""


def _line_of(needle: str) -> int:
    """0-based line of ``needle`` in DEMO."""
    return next(i for i, line in enumerate(DEMO.splitlines()) if needle in line)


def _past_end_keybindings(demo: Path) -> list[dict[str, Any]]:
    """Two key bindings that run the server command ``backendai.runSelection`` (registered by
    vscode-languageclient from the server's ``executeCommandProvider``) with ranges past the
    end: one ending at column 2^31 - 1 of its line, one ending 9000 lines past the last."""
    done = _line_of('print("done')
    svg = _line_of("from IPython.display import SVG")

    def binding(key: str, start: tuple[int, int], end: tuple[int, int]) -> dict[str, Any]:
        rng = {
            "start": {"line": start[0], "character": start[1]},
            "end": {"line": end[0], "character": end[1]},
        }
        args = {"uri": demo.as_uri(), "range": rng}
        return {"key": key, "command": "backendai.runSelection", "args": args}

    return [
        binding("ctrl+alt+8", (done, 0), (done, 2**31 - 1)),
        binding("ctrl+alt+9", (svg, 0), (svg + 9000, 5)),
    ]


_LISTENING = re.compile(r"HTTP server listening on (http://127\.0\.0\.1:\d+)")


def _missing() -> list[str]:
    wanted = {
        "code-server (npm, tests/editors/vscode_harness)": CODE_SERVER,
        "the packaged extension": VSIX,
        "Debian chromium": CHROMIUM,
        "bai-lsp in .venv": SERVER,
    }
    return [name for name, p in wanted.items() if not p.exists()]


def _start_code_server(base: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    config = base / "code-server.yaml"
    config.write_text("bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n")
    args = [
        str(CODE_SERVER),
        "--config",
        str(config),
        "--user-data-dir",
        str(base / "user-data"),
        "--extensions-dir",
        str(base / "extensions"),
    ]
    subprocess.run(
        [*args, "--install-extension", str(VSIX)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    log = (base / "code-server.log").open("wb")
    proc = subprocess.Popen(
        [
            *args,
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
            str(base / "workspace"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = _LISTENING.search((base / "code-server.log").read_text(errors="replace"))
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    _stop(proc)
    raise RuntimeError(
        "code-server did not start:\n" + (base / "code-server.log").read_text(errors="replace")
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # the language server and its gateway may linger briefly in the same group
    time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def vscode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    missing = _missing()
    if missing:
        pytest.fail(
            "VS Code test prerequisites missing: "
            + ", ".join(missing)
            + ". Install them with: bash scripts/setup/30-vscode.sh"
        )
    base = tmp_path_factory.mktemp("vscode")
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    workspace = base / "workspace"
    workspace.mkdir()
    (workspace / "demo.py").write_text(DEMO)
    (workspace / "batch_job.py").write_text(BATCH_JOB)
    (workspace / "data.txt").write_text("42 from the workspace\n")
    (workspace / "flood.py").write_text(FLOOD)
    # a vfolder of the private embedded gateway (its data dir is under the server's state dir)
    vfolder = base / "xdg_state_home" / "bai-lsp" / "gateway-data" / "vfolders" / "vsdata"
    vfolder.mkdir(parents=True)
    (vfolder / "hello.txt").write_text("hello from vsdata\n")
    second = base / "second"
    second.mkdir()
    (second / "other.py").write_text('print("from the second folder")\n')
    multi = base / "multi.code-workspace"
    multi.write_text(json.dumps({"folders": [{"path": str(workspace)}, {"path": str(second)}]}))
    settings_dir = base / "user-data" / "User"
    settings_dir.mkdir(parents=True)
    (settings_dir / "settings.json").write_text(json.dumps(USER_SETTINGS, indent=2))
    keys = _past_end_keybindings(workspace / "demo.py")
    (settings_dir / "keybindings.json").write_text(json.dumps(keys, indent=2))
    # code-server is a remote window: machine-scoped settings live in the remote ("Machine")
    # settings, like with Remote-SSH; VS Code ignores them in the local user settings there
    machine_dir = base / "user-data" / "Machine"
    machine_dir.mkdir(parents=True)
    machine = {
        "backendai.server.path": str(SERVER),
        "backendai.server.args": ["-v", "--log-file", str(ARTIFACTS / "bai-lsp.log")],
        # a private embedded gateway that dies with the server, so nothing outlives the test
        "backendai.onExit": "destroy",
    }
    (machine_dir / "settings.json").write_text(json.dumps(machine, indent=2))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(base / var.lower())
    env["HOME"] = str(base / "home")
    (base / "home").mkdir()
    proc, url = _start_code_server(base, env)
    results_file = base / "results.json"
    config: dict[str, Any] = {
        "url": url,
        "folder": str(workspace),
        "file": "demo.py",
        "batchFile": "batch_job.py",
        "floodFile": "flood.py",
        "multiRoot": {"workspaceFile": str(multi), "file": "other.py"},
        "artifacts": str(ARTIFACTS),
        "results": str(results_file),
        "chromium": str(CHROMIUM),
    }
    gw: GatewayInfo | None = None
    if BACKEND:
        # a gateway of the test's own, configured like a remote cluster for "credentials"
        # (and "countdown", "failedRun" after it), with a short idle timeout
        gw = start_gateway(base / "gateway", args=["--idle-timeout", str(IDLE_TIMEOUT_S)])
        config["settingsFile"] = str(machine_dir / "settings.json")
        config["gateway"] = {
            "endpoint": gw.endpoint,
            "accessKey": gw.access_key,
            "secretKey": gw.secret_key,
        }
        destroy = base / "destroy_session.py"
        destroy.write_text(DESTROY_SESSION)
        config["destroySession"] = [
            sys.executable,
            str(destroy),
            gw.endpoint,
            gw.access_key,
            gw.secret_key,
        ]
    else:
        config["scenarios"] = ["activate"]
    if os.environ.get("BAI_VSCODE_SCENARIOS"):  # e.g. "activate,selection" while debugging
        config["scenarios"] = os.environ["BAI_VSCODE_SCENARIOS"].split(",")
    (base / "drive.json").write_text(json.dumps(config))
    try:
        with (ARTIFACTS / "driver.log").open("w") as driver_log:
            driver = subprocess.run(
                ["node", str(HARNESS / "drive.js"), str(base / "drive.json")],
                cwd=HARNESS,
                env=env,
                stdout=driver_log,
                stderr=subprocess.STDOUT,
                timeout=DRIVER_TIMEOUT,
            )
    finally:
        _stop(proc)
        if gw is not None:
            stop_gateway_process(gw.process)
        shutil.copy(base / "code-server.log", ARTIFACTS / "code-server.log")
        for exthost in (base / "user-data" / "logs").glob("*/exthost*"):
            if exthost.is_dir():
                shutil.copytree(exthost, ARTIFACTS / exthost.name, dirs_exist_ok=True)
        shutil.copy(machine_dir / "settings.json", ARTIFACTS / "machine-settings.json")
    if BACKEND:
        # the secret typed into the secret-key box must not surface in any log or file
        secret = config["gateway"]["secretKey"].encode()
        leaks = [
            str(p.relative_to(ARTIFACTS))
            for p in ARTIFACTS.rglob("*")
            if p.is_file() and p.suffix != ".png" and secret in p.read_bytes()
        ]
    driver_text = (ARTIFACTS / "driver.log").read_text(errors="replace")
    if not results_file.exists():
        pytest.fail(f"the Playwright driver crashed (exit {driver.returncode}):\n{driver_text}")
    results: dict[str, Any] = json.loads(results_file.read_text())
    results["_log"] = driver_text
    results["_leaks"] = leaks if BACKEND else []
    yield results


def scenario(results: dict[str, Any], name: str) -> dict[str, Any]:
    if name != "activate" and not BACKEND:
        pytest.skip("bai_lsp.backendai.client or bai_lsp.gateway.cli missing")
    got = results.get(name)
    assert got is not None, f"scenario {name} did not run:\n{results['_log']}"
    assert got["ok"], f"{name}: {got.get('error')}\n(driver log: {ARTIFACTS / 'driver.log'})"
    details: dict[str, Any] = got["details"]
    return details


def test_extension_unit_tests() -> None:
    """The terminal model (ANSI, \\r), cell markers, server resolution and settings."""
    proc = subprocess.run(
        ["npm", "test", "--silent"], cwd=EXT_DIR, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^# fail 0$", proc.stdout, re.M), proc.stdout


def test_extension_activates_with_status_item_and_cell_lenses(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "activate")
    assert d["status"].startswith("Backend.AI session")
    assert d["lenses"] == 4  # one "▶ Run on Backend.AI" per "# %%" cell


def test_run_selection_streams_output_into_the_view(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "selection")
    assert d["streamedBeforeEnd"], "the first line only appeared after the run had ended"
    for i in range(3):
        assert f"hello from backend.ai {i}" in d["text"]
    assert "done · é漢😀" in d["text"]
    assert d["status"] == "finished", d["footer"]
    assert d["footer"].startswith("✔ finished")


def test_stderr_colours_and_progress_bars(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "selection")
    assert d["stderrLines"] == ["warning: this line is on stderr"]
    assert "fg-ansi-green" in d["colours"]
    assert "\x1b" not in d["text"] and "[32m" not in d["text"]
    # the \r progress bar stays one line, showing its last state
    assert d["progressLines"] == ["progress 100%"]


def test_status_bar_goes_busy_then_idle(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "selection")
    seen = d["statusSeen"]
    assert any(s.endswith(": busy") for s in seen), seen
    assert d["finalStatus"].endswith(": idle"), d["finalStatus"]


def test_input_prompt_and_masked_password(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "input")
    assert (
        d["statusWhileWaiting"].endswith("waiting for input")
        or "waiting for input" in (d["statusWhileWaiting"])
    )
    assert d["passwordInputType"] == "password"
    # the transcript reads like a terminal: prompt and answer, password not shown
    assert "Your name: Ada" in d["text"]
    assert "Password: " in d["text"]
    assert "Hello, Ada! Your password has 7 characters." in d["text"]
    assert "hunter2" not in d["text"]
    assert d["status"] == "finished"


def test_escape_on_an_input_prompt_interrupts_the_run(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "inputCancel")
    assert d["status"] == "interrupted", d
    assert "Input cancelled" in d["text"]
    assert d["finalStatus"].endswith(": idle"), d["finalStatus"]


def test_interrupt_stops_a_loop(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "interrupt")
    assert ": busy" in d["busyStatus"]
    assert d["status"] == "interrupted", d
    assert d["footer"].startswith("■ interrupted")
    assert d["finalStatus"].endswith(": idle"), d["finalStatus"]


def test_media_record_opens_the_image_panel(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "media")
    assert d["status"] == "finished"
    png, svg = d["images"][-2:]
    assert png["mime"] == "image/png"
    assert png["width"] > 100 and png["height"] > 100
    assert svg["mime"] == "image/svg+xml"
    assert (svg["width"], svg["height"]) == (120, 60)
    assert len(d["notes"]) == 2, "the output view should point to the media panel per image"


def test_run_file_in_batch_mode_uploads_the_workspace(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "batch")
    assert d["status"] == "finished", d
    assert "(batch)" in d["header"]
    assert "data: 42 from the workspace" in d["text"]


def test_run_file_flood_keeps_the_view_bounded(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "flood")
    assert d["status"] == "finished", d
    assert "flood.py (query)" in d["header"]
    assert d["lastLine"] == "line 19999"
    # the view keeps view.maxLines lines and says that older ones were dropped
    assert d["lines"] <= MAX_LINES
    assert d["trimmedNote"] and "dropped" in d["trimmedNote"]


def test_show_sessions_lists_the_workspace_session(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "sessions")
    assert d["name"] in d["row"]


def test_status_bar_actions_destroy_the_session(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "destroy")
    assert any("Interrupt" in a for a in d["actions"]), d["actions"]
    assert any("Restart Session" in a for a in d["actions"]), d["actions"]
    assert d["finalStatus"].endswith(": terminated")
    # the user asked for it: no "was terminated" warning
    assert not d["warnings"], d["warnings"]


def test_keypair_secret_asked_once_refused_then_fixed(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "credentials")
    assert d["askedMasked"], "the secret key prompt must be a password box"
    # what the user reads when the backend refuses the keypair, and the way out
    assert "Set Secret Key" in d["refusal"]
    assert re.search(r"refus|denied|credential|signature|access key", d["refusal"], re.I), d
    assert "not-the-secret-key" not in d["refusal"]
    assert d["refusalToasts"] == 1, "the user should read the refusal once"
    # with the right secret the current line (nothing selected) runs on that endpoint
    assert d["status"] == "finished"
    assert d["text"].strip() == "done · é漢😀"
    assert d["finalStatus"].endswith(": idle")
    assert vscode["_leaks"] == [], "the secret key leaked into these artifacts"


def test_status_item_idle_countdown_tooltip_and_warning(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "countdown")
    # "name · idle · idle 3:12": the gateway's 200 s, counted down since the last run
    left = re.search(r" · idle · idle (\d+):(\d\d)\b", d["text"])
    assert left and 0 < int(left[1]) * 60 + int(left[2]) <= IDLE_TIMEOUT_S, d["text"]
    assert re.search(r"ends in: idle \d:\d\d", d["tooltip"]), d["tooltip"]
    # under 5 minutes left: one warning that says why
    assert len(d["warnings"]) == 1, d["warnings"]
    assert re.search(r"session \S+ ends in \d:\d\d \(idle for too long\)", d["warnings"][0])


def test_ranges_past_the_end_run_the_clamped_text(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "pastEnd")
    # through vscode-languageclient's command: an end column of 2^31 - 1 is the line's end
    assert d["pastLine"]["status"] == "finished", d["pastLine"]
    assert d["pastLine"]["text"] == "done · é漢😀"
    # and an end 9000 lines past the last is the end of the document: the SVG cell's tail runs
    assert d["pastDocument"]["status"] == "finished", d["pastDocument"]
    assert "image/svg+xml" in d["pastDocument"]["text"], d["pastDocument"]


def test_a_failed_run_shows_the_servers_reason(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "failedRun")
    assert d["status"] == "failed", d
    # the footer and the warning carry runFinished.message, not a generic sentence
    assert "session terminated" in d["footer"], d["footer"]
    assert "failed: Backend.AI: " in d["toast"] and "session terminated" in d["toast"], d["toast"]


def test_multi_root_workspace_has_a_status_item_per_folder(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "multiroot")
    assert sorted(label.split(" — ")[0] for label in d["initial"]) == ["second", "workspace"]
    assert d["status"] == "finished"
    assert d["text"] == "from the second folder"
    final = {label.split(" — ")[0]: label for label in d["final"]}
    assert final["second"].endswith(": idle"), final
    assert re.search(r"Backend\.AI session \S+: idle$", final["second"]), final
    # the other folder's item did not move
    assert final["workspace"].endswith("Backend.AI session: none yet"), final


def test_backend_ai_terminal_tab_types_resizes_and_exits(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "terminal")
    assert "echo $((6*7))\n42\n" in d["echo"]
    rows_before = int(d["before"].split()[0])
    rows_after = int(d["after"].split()[0])
    assert rows_after > rows_before  # the maximized panel's size reached the shell
    assert d["closed"] == "The shell exited."
    assert "Backend.AI terminal closed: The shell exited." in d["toasts"]


def test_launcher_quick_picks_folders_view_and_resources_tooltip(vscode: dict[str, Any]) -> None:
    d = scenario(vscode, "launcher")
    assert any(i.startswith("python") for i in d["images"]), d["images"]
    assert any("cpu01-small" in p and "cpu 1, mem 1.0 GiB" in p for p in d["presets"]), d["presets"]
    assert any("vsdata" in m for m in d["mounts"]), d["mounts"]
    assert "preset cpu02-medium" in d["saved"] and "mounts vsdata" in d["saved"], d["saved"]
    assert d["runStatus"] == "finished"
    assert "requested: cpu 2, mem 4.0 GiB" in d["tooltip"], d["tooltip"]
    assert "hello from vsdata" in d["opened"]
