"""`:BackendAI configure`, `:BackendAI folders` and the statusline countdown in a real
headless Neovim 0.11 (issue 18).

One run of ``nvim/launcher.lua`` against a real ``bai-lsp`` and a gateway started with a
200 s idle timeout: the launcher's ``vim.ui.select`` prompts offer the gateway's images,
presets (with what is allocatable) and vfolders; the chosen preset is what the next session
records; the folder browser lists, opens, uploads and downloads; the statusline shows the
idle countdown and the 5-minute warning is shown. Logs: ``test-artifacts/neovim/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from editor_env import NEOVIM_PLUGIN, NVIM, SETUP_HINT, launcher_run

pytestmark = [pytest.mark.editor]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not NVIM.exists():
        pytest.fail(f"Neovim is not installed at {NVIM}: {SETUP_HINT}")
    yield from launcher_run(
        tmp_path_factory.mktemp("nvim-launcher"),
        "neovim",
        [
            str(NVIM),
            "--headless",
            "-u",
            "NONE",
            "-c",
            f"luafile {Path(__file__).parent / 'nvim' / 'launcher.lua'}",
        ],
        {"BAI_PLUGIN": str(NEOVIM_PLUGIN)},
    )


def test_configure_offers_images_presets_and_vfolders(run: dict[str, Any]) -> None:
    prompts = {p["prompt"]: p["items"] for p in run["prompts"]}
    assert any(item.startswith("python") for item in prompts["Backend.AI image"])
    presets = prompts["Resource preset"]
    assert any(p.startswith("cpu01-small (cpu 1, mem 1.0 GiB)") for p in presets), presets
    assert prompts["Mount a vfolder"] == ["(no vfolder)", "launcher-data"]
    saved = [n["msg"] for n in run["notifications"] if "Saved:" in n["msg"]]
    assert saved and "preset cpu02-medium" in saved[0]


def test_the_next_session_has_the_chosen_preset_and_mount(run: dict[str, Any]) -> None:
    assert run["status"]["resources"]["requested"] == {"cpu": "2", "mem": str(4 * 1024**3)}
    assert "hello from the vfolder" in "\n".join(run["output"])


def test_statusline_counts_down_and_warns_five_minutes_before(run: dict[str, Any]) -> None:
    assert 0 < run["status"]["idleRemainingSeconds"] <= 200
    assert " idle 3:" in run["statusline"] or " idle 2:" in run["statusline"], run["statusline"]
    warned = [n["msg"] for n in run["notifications"] if "ends in" in n["msg"]]
    assert warned and "idle for too long" in warned[0]


def test_folder_browser_lists_opens_uploads_and_downloads(run: dict[str, Any]) -> None:
    assert "launcher-data/" in run["folder_list"]
    assert any(line.startswith("hello.txt") for line in run["folder_files"])
    assert any(line.startswith("up.txt") for line in run["after_upload"])
    assert run["uploaded"] == "uploaded by neovim\n"
    assert run["downloaded"] == "hello from the vfolder\n"
    assert run["opened_name"] == "bai-vfolder://launcher-data/hello.txt"
    assert run["opened"] == ["hello from the vfolder"]
