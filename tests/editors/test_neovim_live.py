"""The live session in a real headless Neovim 0.11 (issue 17), next to a second language
server on the same buffer: completion through the built-in client from both, ``:BackendAI
vars``, ``:BackendAI inspect`` paging a DataFrame, ``:BackendAI export`` to a notebook that
nbformat validates. One run of ``nvim/live.lua``; logs in ``test-artifacts/neovim/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from editor_env import NEOVIM_PLUGIN, NVIM, SETUP_HINT, live_run

pytestmark = [pytest.mark.editor]

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not NVIM.exists():
        pytest.fail(f"Neovim is not installed at {NVIM}: {SETUP_HINT}")
    return live_run(
        tmp_path_factory.mktemp("nvim-live"),
        "neovim",
        [str(NVIM), "--headless", "-u", "NONE", "-l", str(HERE / "nvim" / "live.lua")],
        {"BAI_PLUGIN": str(NEOVIM_PLUGIN)},
    )


def test_completion_comes_from_the_session_next_to_the_other_server(run: dict[str, Any]) -> None:
    assert run["omnifunc"] == "v:lua.vim.lsp.omnifunc"  # <C-x><C-o> asks every server
    # Before any run the session offers nothing (and starts nothing); the other server does.
    assert run["before"]["other"]["labels"] == ["from_other_server"]
    assert run["before"].get("backendai", {"labels": []})["labels"] == []
    assert run["first_run"]["status"] == "finished", run["first_run"]
    after = run["after_run"]
    assert {"append", "sort"} <= set(after["backendai"]["labels"])
    assert after["other"]["labels"] == ["from_other_server"]
    assert "dumps" in run["module"]["backendai"]["labels"]


def test_vars_float_lists_the_session_variables(run: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in run["vars"]["variables"]}
    assert variables["xs"]["type"] == "list" and variables["xs"]["size"] == 3
    assert "json" not in variables
    lines = run["vars_float"]
    assert lines[0].split() == ["name", "type", "size", "value"]
    assert any(line.split()[:3] == ["xs", "list", "3"] for line in lines), lines
    assert "Backend.AI variables" in json.dumps(run["vars_float_title"])


def test_inspect_pages_a_dataframe_in_a_float(run: dict[str, Any]) -> None:
    assert run["frame_run"]["status"] == "finished", run["frame_run"]
    first, second = run["pages"][:2]
    assert first["rows"] == 50 and second["rows"] == 50
    assert first["lines"][0].startswith("df: DataFrame — 120 rows x 2 columns")
    assert first["lines"][-1].startswith("rows 1\u201350 of 120")
    assert second["lines"][-1].startswith("rows 51\u2013100 of 120")  # after pressing n
    assert second["lines"][2].split() == ["50", "50", "2500"]


def test_export_writes_a_valid_notebook(run: dict[str, Any]) -> None:
    import nbformat

    assert run["export"]["format"] == "ipynb" and run["export"]["runs"] == 2, run
    nb = nbformat.read(run["export_path"], as_version=4)
    nbformat.validate(nb)
    assert "".join(nb.cells[0].source).startswith("import json; xs = [3, 1, 2]")
