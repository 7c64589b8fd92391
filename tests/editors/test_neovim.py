"""The Neovim plugin (editor-clients/neovim) in a real Neovim 0.11, headless.

* ``test_unit_specs``: the plugin's own ``nvim -l`` specs (options, output buffer, media
  files, prompts, statusline, :checkhealth, help tags).
* The other tests share one run of ``nvim/drive.lua`` against a real ``bai-lsp`` with its
  embedded gateway (real Jupyter kernel): it uses ``:BackendAI`` commands as a user
  would, types the answers to ``input()``/``getpass()``, samples the statusline and
  reports what was on screen; each test asserts one scenario.

Setup: ``scripts/setup/40-neovim-emacs.sh``. Logs land in ``test-artifacts/neovim/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import demo_workspace as demo
import pytest
from editor_env import (
    NEOVIM_PLUGIN,
    NVIM,
    SERVER,
    SETUP_HINT,
    clean_env,
    keep_artifact,
    run_editor,
)

pytestmark = [pytest.mark.editor]


def _need_nvim() -> None:
    if not NVIM.exists():
        pytest.fail(f"Neovim is not installed at {NVIM}: {SETUP_HINT}")


def test_unit_specs(tmp_path: Path) -> None:
    _need_nvim()
    done = run_editor(
        [str(NVIM), "--headless", "-u", "NONE", "-l", str(NEOVIM_PLUGIN / "tests" / "run.lua")],
        env=clean_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    keep_artifact("neovim/unit-specs.log", done.stdout + "\n--- stderr ---\n" + done.stderr)
    summary = re.search(r"^(\d+) passed, (\d+) failed$", done.stdout, re.M)
    assert summary, f"no summary line:\n{done.stdout}\n{done.stderr}"
    assert summary.group(2) == "0", done.stdout
    assert int(summary.group(1)) >= 30
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One headless Neovim session running every scenario of drive.lua."""
    _need_nvim()
    assert SERVER.exists(), f"bai-lsp not found at {SERVER}"
    base = tmp_path_factory.mktemp("nvim-e2e")
    demo_file = demo.make_workspace(base / "proj")
    result_file = base / "result.json"
    env = clean_env(
        base / "home",
        {
            "BAI_PLUGIN": str(NEOVIM_PLUGIN),
            "BAI_LSP": str(SERVER),
            "BAI_DEMO": str(demo_file),
            "BAI_RESULT": str(result_file),
            "BAI_MEDIA": str(base / "media"),
            "BAI_DEMO2": str(demo.make_workspace(base / "other")),
            "BAI_DEAD_ENDPOINT": demo.DEAD_ENDPOINT,
            "BAI_DEAD_SECRET": demo.DEAD_SECRET,
            "BAI_CHARWISE_LINE": demo.CHARWISE_LINE,
            "BAI_CHARWISE_START": str(demo.CHARWISE_START),
            "BAI_NAME": demo.NAME,
            "BAI_PASSWORD": demo.PASSWORD,
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
    driver = Path(__file__).parent / "nvim" / "drive.lua"
    done = run_editor(
        [str(NVIM), "--headless", "-u", "NONE", "-l", str(driver)],
        env=env,
        cwd=demo_file.parent,
        timeout=240,
    )
    lsp_log = base / "home" / "state" / "nvim" / "lsp.log"
    keep_artifact(
        "neovim/drive.log",
        f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}\n"
        f"--- lsp.log ---\n{lsp_log.read_text() if lsp_log.exists() else '(none)'}",
    )
    assert result_file.exists(), f"the driver wrote no result:\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(result_file.read_text())
    keep_artifact("neovim/result.json", json.dumps(result, indent=2, ensure_ascii=False))
    result["exit"] = done.returncode
    result["stderr"] = done.stderr
    return result


def _scenario(session: dict[str, Any], name: str) -> dict[str, Any]:
    s = session["scenarios"].get(name)
    assert s is not None, f"scenario {name} did not run:\n{session['stderr'][-3000:]}"
    assert s["ok"], s.get("error")
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
    assert {"line": "this is stderr", "group": "BackendAIStderr"} in s["highlights"]
    # the output split opened next to the source, and the cursor stayed in the source
    assert s["windows"] == 2
    assert s["current_buffer_is_demo"]


def test_statusline_shows_busy_then_idle(session: dict[str, Any]) -> None:
    s = _scenario(session, "region")
    seen = s["statuses"]
    assert "BAI busy" in seen, seen
    assert "BAI idle" in seen[seen.index("BAI busy") :], seen
    assert s["statusline_after"] == "BAI idle"


def test_typed_answers_reach_input_and_getpass(session: dict[str, Any]) -> None:
    s = _scenario(session, "input")
    assert s["run"]["status"] == "finished", s["run"]
    text = "\n".join(s["output"])
    assert f"Your name: {demo.NAME}" in text
    assert "Password: " in s["output"], "the password prompt line shows no answer"
    assert f"Hello, {demo.NAME}! Your password has {len(demo.PASSWORD)} characters." in text
    assert demo.PASSWORD not in text
    assert "BAI input?" in s["statuses"]


def test_interrupt_ends_a_loop(session: dict[str, Any]) -> None:
    s = _scenario(session, "interrupt")
    assert s["saw_ticks"]
    assert s["statusline_while_running"] == "BAI busy"
    assert s["run"]["status"] == "interrupted", s["run"]
    # query mode: the kernel's KeyboardInterrupt is the program's exit status (1)
    assert s["run"]["exitCode"] in (1, 130)
    assert s["statusline_after"] == "BAI idle"
    assert s["after"]["status"] == "finished", s["after"]
    assert "still alive after the interrupt" in s["output"]
    assert any(line.startswith("■ interrupted · exit ") for line in s["output"])
    assert "KeyboardInterrupt: " in s["output"]


def test_plot_is_saved_as_png(session: dict[str, Any]) -> None:
    s = _scenario(session, "media")
    assert s["run"]["status"] == "finished", s["run"]
    paths = [m.group(1) for line in s["output"] if (m := re.match(r"^\[image/png\] (.+)$", line))]
    assert paths, s["output"]
    data = Path(paths[-1]).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")


def test_sessions_and_restart(session: dict[str, Any]) -> None:
    s = _scenario(session, "restart")
    listed = "\n".join(n["msg"] for n in s["sessions"])
    assert re.search(r"bai-proj-[0-9a-f]{8}\s+\S+\s+python", listed), listed
    assert re.match(r"^BackendAI: restarted bai-proj-[0-9a-f]{8}: ", s["restart"][0]["msg"])
    assert s["run"]["status"] == "finished", s["run"]
    # the loop's `i` is gone: the kernel is fresh
    assert s["output"][-2] == "False", s["output"][-4:]


def test_a_flood_streams_completely_into_a_capped_buffer(session: dict[str, Any]) -> None:
    s = _scenario(session, "flood")
    assert s["run"]["status"] == "finished", s["run"]
    assert s["tail"][:2] == ["line 29998", "line 29999"], s["tail"]
    assert s["tail"][2].startswith("■ finished · exit 0")
    assert s["line_count"] == 10000  # output.max_lines: the oldest lines went


def test_charwise_selection_runs_only_the_selected_text(session: dict[str, Any]) -> None:
    s = _scenario(session, "charwise")
    assert s["run"]["status"] == "finished", s["run"]
    assert s["tail"][1] == "second statement", s["tail"]  # not "first statement"
    assert s["tail"][2].startswith("■ finished · exit 0")


def test_ranges_past_the_end_run_the_clamped_text(session: dict[str, Any]) -> None:
    s = _scenario(session, "past_end")
    assert s["mark_col"] == 2**31 - 1  # what a linewise selection's '> mark says
    assert s["own_end"]["character"] == len('print("linewise two")') + 1, s["own_end"]
    both = ["linewise one", "linewise two"]
    for i in (0, 1):  # vim.lsp.util's range, then the '> mark's column as it is
        assert s["runs"][i].get("err") is None, s["runs"][i]
        assert s["runs"][i]["result"]["status"] == "finished", s["runs"][i]
        assert s["tails"][i][:2] == both, s["tails"][i]
    # a range ending 40 lines past the last runs to the end of the document
    assert s["runs"][2]["result"]["status"] == "finished", s["runs"][2]
    assert s["tails"][2][1] == "linewise two", s["tails"][2]
    assert s["tails"][2][0] != "linewise one", s["tails"][2]


def test_run_file_batch_uploads_the_workspace(session: dict[str, Any]) -> None:
    s = _scenario(session, "batch")
    assert s["run"]["status"] == "finished", s["run"]
    out = s["output"]
    header = max(i for i, line in enumerate(out) if line.startswith("▶ "))
    assert re.match(r"^▶ batch_demo\.py \(batch\) · bai-proj-[0-9a-f]{8} · ", out[header]), out
    assert f"batch says: {demo.BATCH_GREETING}" in out[header:]
    assert out[-1].startswith("■ finished · exit 0"), out[header:]


def test_checkhealth_sees_the_running_server(session: dict[str, Any]) -> None:
    text = "\n".join(_scenario(session, "health")["text"])
    assert "options are valid" in text
    assert "version:" in text
    assert re.search(r"session bai-proj-[0-9a-f]{8}: idle", text), text


def test_destroy_ends_the_session(session: dict[str, Any]) -> None:
    s = _scenario(session, "destroy")
    msgs = [n["msg"] for n in s["notifications"]]
    assert len(msgs) == 1, msgs
    assert re.match(r"^BackendAI: destroyed bai-proj-[0-9a-f]{8}: terminated$", msgs[0]), msgs
    assert s["statusline"] == "BAI terminated"


def test_unreachable_backend_is_explained(session: dict[str, Any]) -> None:
    s = _scenario(session, "unreachable")
    errors = [n["msg"] for n in s["notifications"] if n["level"] == 4]
    assert len(s["notifications"]) == 1, s["notifications"]
    assert errors, s["notifications"]
    assert errors[0].startswith("BackendAI: Cannot reach"), errors
    assert demo.DEAD_ENDPOINT in errors[0], errors
    assert all(demo.DEAD_SECRET not in n["msg"] for n in s["notifications"])
    assert s["statusline"] == "BAI error"
