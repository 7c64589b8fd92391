"""The Emacs package (editor-clients/emacs/backendai.el) in a real Emacs with eglot.

* ``test_byte_compiles_without_warnings`` / ``test_checkdoc_clean``: the package's lint.
* ``test_ert``: its ERT tests (output buffer, media files, prompts, mode line).
* The other tests share one run of ``emacs/drive.el`` in ``emacs --batch`` against a real
  ``bai-lsp`` with its embedded gateway: it uses the package's commands in demo.py, the
  answers to ``input()``/``getpass()`` are typed on stdin, the mode line is sampled on
  every status change, and each test asserts one scenario.

Setup: ``scripts/setup/40-neovim-emacs.sh`` (Debian emacs-nox + elpa-eglot). Plain
``emacs --batch`` (not ``-Q``): Debian's site-start puts the elpa packages on the load path.
Logs land in ``test-artifacts/emacs/``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import demo_workspace as demo
import pytest
from editor_env import (
    EMACS,
    EMACS_PACKAGE,
    SERVER,
    SETUP_HINT,
    clean_env,
    keep_artifact,
    run_editor,
)

pytestmark = [pytest.mark.editor]

HERE = Path(__file__).resolve().parent


def _emacs() -> str:
    if not EMACS:
        pytest.fail(f"emacs is not installed: {SETUP_HINT}")
    return EMACS


@pytest.fixture(scope="module")
def lint(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("emacs-lint")
    done = run_editor(
        [_emacs(), "--batch", "-l", str(HERE / "emacs" / "lint.el"), str(EMACS_PACKAGE), str(out)],
        env=clean_env(out / "home"),
        cwd=out,
        timeout=120,
    )
    text = done.stdout + "\n--- stderr ---\n" + done.stderr
    keep_artifact("emacs/lint.log", text)
    return text


def test_byte_compiles_without_warnings(lint: str) -> None:
    assert "BYTE-COMPILE OK" in lint, lint


def test_checkdoc_clean(lint: str) -> None:
    report = lint.split("CHECKDOC:\n", 1)
    assert len(report) == 2, lint
    problems = [
        line for line in report[1].splitlines() if re.search(r"backendai(-live)?\.el:", line)
    ]
    assert problems == []


def test_ert(tmp_path: Path) -> None:
    done = run_editor(
        [
            _emacs(),
            "--batch",
            "-L",
            str(EMACS_PACKAGE),
            "-l",
            str(EMACS_PACKAGE / "backendai-tests.el"),
            "-f",
            "ert-run-tests-batch-and-exit",
        ],
        env=clean_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    keep_artifact("emacs/ert.log", done.stdout + done.stderr)
    summary = re.search(
        r"Ran (\d+) tests, (\d+) results as expected, (\d+) unexpected", done.stderr
    )
    assert summary, done.stderr[-3000:]
    assert summary.group(3) == "0", done.stderr[-5000:]
    assert int(summary.group(1)) >= 15
    assert done.returncode == 0


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One batch Emacs running every scenario of drive.el."""
    emacs = _emacs()
    assert SERVER.exists(), f"bai-lsp not found at {SERVER}"
    base = tmp_path_factory.mktemp("emacs-e2e")
    demo_file = demo.make_workspace(base / "proj")
    result_file = base / "result.json"
    env = clean_env(
        base / "home",
        {
            "BAI_PACKAGE": str(EMACS_PACKAGE),
            "BAI_LSP": str(SERVER),
            "BAI_DEMO": str(demo_file),
            "BAI_RESULT": str(result_file),
            "BAI_MEDIA": str(base / "media"),
            "BAI_DEMO2": str(demo.make_workspace(base / "other")),
            "BAI_DEMO3": str(demo.make_workspace(base / "side")),
            "BAI_PYTHON": sys.executable,
            "BAI_OTHER_SERVER": str(HERE / "emacs" / "other_server.py"),
            "BAI_DEAD_ENDPOINT": demo.DEAD_ENDPOINT,
            "BAI_DEAD_SECRET": demo.DEAD_SECRET,
            "BAI_CHARWISE_LINE": demo.CHARWISE_LINE,
            "BAI_CHARWISE_START": str(demo.CHARWISE_START),
            "BAI_LINES": json.dumps(
                {
                    "greeting": list(demo.GREETING_BODY),
                    "ask": demo.ASK_LINE,
                    "loop": demo.LOOP_LINE,
                    "plot": demo.PLOT_LINE,
                    "after": demo.AFTER_LINE,
                }
            ),
        },
    )
    done = run_editor(
        [emacs, "--batch", "-l", str(HERE / "emacs" / "drive.el")],
        env=env,
        cwd=demo_file.parent,
        timeout=240,
        # typed at the input() and getpass() prompts, then at "Destroy ...? (yes or no)"
        stdin=f"{demo.NAME}\n{demo.PASSWORD}\nyes\n",
    )
    keep_artifact(
        "emacs/drive.log",
        f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}",
    )
    assert result_file.exists(), f"the driver wrote no result:\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(result_file.read_text())
    keep_artifact("emacs/result.json", json.dumps(result, indent=2, ensure_ascii=False))
    result["exit"] = done.returncode
    result["stderr"] = done.stderr
    return result


def _scenario(session: dict[str, Any], name: str) -> dict[str, Any]:
    s = session["scenarios"].get(name)
    assert s is not None, f"scenario {name} did not run:\n{session['stderr'][-3000:]}"
    assert s["ok"] is True, s.get("error")
    return s


def test_driver_ran_cleanly(session: dict[str, Any]) -> None:
    assert session["exit"] == 0, session["stderr"][-3000:]
    assert session["errors_before_unreachable"] == []


def test_region_fills_the_output_buffer(session: dict[str, Any]) -> None:
    s = _scenario(session, "region")
    assert s["run"]["status"] == "finished", s["run"]
    assert s["run"]["exitCode"] == 0
    out = s["output"]
    assert re.match(r"^▶ demo\.py · bai-proj-[0-9a-f]{8} · ", out[0]), out
    assert out[1:4] == ["hello from backend.ai", "second line · é漢😀", "this is stderr"], out
    assert re.match(r"^■ finished · exit 0 · ", out[4]), out
    assert s["stderr_face"] == "backendai-stderr"


def test_mode_line_shows_busy_then_idle(session: dict[str, Any]) -> None:
    s = _scenario(session, "region")
    assert s["minor_mode"] is True
    seen = s["modelines"]
    assert "BAI busy" in seen, seen
    assert "BAI idle" in seen[seen.index("BAI busy") :], seen
    assert s["modeline_after"] == "BAI idle"


def test_typed_answers_reach_input_and_getpass(session: dict[str, Any]) -> None:
    s = _scenario(session, "input")
    assert s["run"]["status"] == "finished", s["run"]
    text = "\n".join(s["output"])
    assert f"Your name: {demo.NAME}" in text
    assert "Password: " in s["output"] or "Password:" in s["output"]
    assert f"Hello, {demo.NAME}! Your password has {len(demo.PASSWORD)} characters." in text
    assert demo.PASSWORD not in text
    assert "BAI input?" in s["modelines"]


def test_interrupt_ends_a_loop(session: dict[str, Any]) -> None:
    s = _scenario(session, "interrupt")
    assert s["saw_ticks"] is True
    assert s["modeline_while_running"] == "BAI busy"
    assert s["run"]["status"] == "interrupted", s["run"]
    # query mode: the kernel's KeyboardInterrupt is the program's exit status (1)
    assert s["run"]["exitCode"] in (1, 130)
    assert s["modeline_after"] == "BAI idle"
    assert s["after"]["status"] == "finished", s["after"]
    assert "still alive after the interrupt" in s["output"]


def test_sessions_and_restart(session: dict[str, Any]) -> None:
    s = _scenario(session, "restart")
    listed = "\n".join(s["sessions"])
    assert re.search(r"bai-proj-[0-9a-f]{8}\s+\S+\s+python", listed), listed
    assert any(re.match(r"^BackendAI: restarted bai-proj-[0-9a-f]{8}: ", m) for m in s["restart"])
    assert s["run"]["status"] == "finished", s["run"]
    # the loop's `i` is gone: the kernel is fresh
    assert s["output"][-2] == "False", s["output"][-4:]


def test_a_flood_streams_completely_into_a_capped_buffer(session: dict[str, Any]) -> None:
    s = _scenario(session, "flood")
    assert s["run"]["status"] == "finished", s["run"]
    assert s["tail"][:2] == ["line 29998", "line 29999"], s["tail"]
    assert s["tail"][2].startswith("■ finished · exit 0")
    # backendai-output-max-lines (10000): the oldest lines went
    assert 9990 <= s["line_count"] <= 10001


def test_part_of_a_line_runs_only_the_region(session: dict[str, Any]) -> None:
    s = _scenario(session, "partial-region")
    assert s["run"]["status"] == "finished", s["run"]
    assert s["tail"][1] == "second statement", s["tail"]  # not "first statement"
    assert s["tail"][2].startswith("■ finished · exit 0")


def test_ranges_past_the_end_run_the_clamped_text(session: dict[str, Any]) -> None:
    first, second = _scenario(session, "past-end")["runs"]
    # an end column past its line (2^31 - 1) is the line's end
    assert first["run"]["status"] == "finished", first["run"]
    assert first["tail"][:2] == ["past one", "past two"], first["tail"]
    # an end line 40 past the last is the end of the document
    assert second["run"]["status"] == "finished", second["run"]
    assert second["tail"][1] == "past two", second["tail"]
    assert second["tail"][0].startswith("▶ "), second["tail"]


def test_run_file_batch_uploads_the_workspace(session: dict[str, Any]) -> None:
    s = _scenario(session, "batch")
    assert s["run"]["status"] == "finished", s["run"]
    out = s["output"]
    header = max(i for i, line in enumerate(out) if line.startswith("▶ "))
    assert re.match(r"^▶ batch_demo\.py \(batch\) · bai-proj-[0-9a-f]{8} · ", out[header]), out
    assert f"batch says: {demo.BATCH_GREETING}" in out[header:]
    assert out[-1].startswith("■ finished · exit 0"), out[header:]


def test_plot_path_is_shown_without_a_graphical_frame(session: dict[str, Any]) -> None:
    s = _scenario(session, "media")
    assert s["run"]["status"] == "finished", s["run"]
    paths = [m.group(1) for line in s["output"] if (m := re.match(r"^\[image/png\] (.+)$", line))]
    assert paths, s["output"]
    assert Path(paths[-1]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_runs_in_a_buffer_another_eglot_server_manages(session: dict[str, Any]) -> None:
    s = _scenario(session, "alongside")
    assert s["other_is_eglot_server"] is True, s["other_name"]
    assert s["run"]["status"] == "finished", s["run"]
    assert "hello from backend.ai" in s["output"]
    assert re.match(r"^▶ demo\.py · bai-side-[0-9a-f]{8} · ", s["output"][-3]), s["output"]
    assert s["modeline"] == "BAI idle"


def test_destroy_asks_then_ends_the_session(session: dict[str, Any]) -> None:
    s = _scenario(session, "destroy")
    ours = [m for m in s["messages"] if m.startswith("BackendAI")]
    assert len(ours) == 1, ours
    assert re.match(r"^BackendAI: destroyed bai-proj-[0-9a-f]{8}: terminated$", ours[0]), ours
    assert s["modeline"] == "BAI terminated"


def test_unreachable_backend_is_explained(session: dict[str, Any]) -> None:
    s = _scenario(session, "unreachable")
    assert s["result"]["status"] == "error", s
    ours = [m for m in s["messages"] if m.startswith("BackendAI:")]
    assert len(ours) == 1, s["messages"]
    assert ours[0].startswith("BackendAI: Cannot reach"), ours
    assert demo.DEAD_ENDPOINT in ours[0]
    assert all(demo.DEAD_SECRET not in m for m in s["messages"])
    assert s["modeline"] == "BAI error"
