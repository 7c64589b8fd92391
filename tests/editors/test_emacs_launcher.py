"""`backendai-configure`, `backendai-folders` and the mode-line countdown in a real Emacs
(batch, eglot; issue 18).

One run of ``emacs/launcher.el`` against a real ``bai-lsp`` and a gateway started with a
200 s idle timeout: the launcher's ``completing-read`` prompts offer the gateway's images,
presets (with what is allocatable) and vfolders; the chosen preset is what the next session
records; the folder browser lists, opens, uploads and downloads; the mode line shows the
idle countdown and the 5-minute warning is shown. Logs: ``test-artifacts/emacs/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from editor_env import EMACS_PACKAGE, SETUP_HINT, launcher_run

pytestmark = [pytest.mark.editor]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    emacs = shutil.which("emacs")
    if not emacs:
        pytest.fail(f"emacs is not installed: {SETUP_HINT}")
    yield from launcher_run(
        tmp_path_factory.mktemp("emacs-launcher"),
        "emacs",
        [emacs, "--batch", "-l", str(Path(__file__).parent / "emacs" / "launcher.el")],
        {"BAI_PACKAGE": str(EMACS_PACKAGE)},
    )


def test_configure_offers_images_presets_and_vfolders(run: dict[str, Any]) -> None:
    prompts = {p["prompt"].split(":")[0]: p["items"] for p in run["prompts"]}
    assert any(item.startswith("python") for item in prompts["Backend.AI image"])
    presets = prompts["Resource preset"]
    assert any(p.startswith("cpu01-small (cpu 1, mem 1.0 GiB)") for p in presets), presets
    assert prompts["Mount a vfolder"] == ["(no vfolder)", "launcher-data"]
    saved = [m for m in run["messages"] if "Saved:" in m]
    assert saved and "preset cpu02-medium" in saved[0]


def test_the_next_session_has_the_chosen_preset_and_mount(run: dict[str, Any]) -> None:
    assert run["status"]["resources"]["requested"] == {"cpu": "2", "mem": str(4 * 1024**3)}
    assert "hello from the vfolder" in run["output"]


def test_mode_line_counts_down_and_warns_five_minutes_before(run: dict[str, Any]) -> None:
    assert 0 < run["status"]["idleRemainingSeconds"] <= 200
    assert " idle 3:" in run["modeline"] or " idle 2:" in run["modeline"], run["modeline"]
    warned = [w for w in run["warnings"] if "ends in" in w]
    assert warned and "idle for too long" in warned[0]


def test_folder_browser_lists_opens_uploads_and_downloads(run: dict[str, Any]) -> None:
    assert "\nlauncher-data/\n" in run["folderList"]
    assert "\nhello.txt " in run["folderFiles"]
    assert "\nup.txt " in run["afterUpload"]
    assert run["uploaded"] == "uploaded by emacs\n"
    assert run["downloaded"] == "hello from the vfolder\n"
    assert run["openedName"] == "bai-vfolder://launcher-data/hello.txt"
    assert run["opened"] == "hello from the vfolder\n"
