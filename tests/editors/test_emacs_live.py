"""The live session in a real Emacs 28 with eglot (issue 17): the demo buffer is managed by
another language server, so bai-lsp is the side connection; ``completion-at-point`` offers
the session's names next to the other server's, ``backendai-variables`` lists the session's
variables (tabulated-list), ``backendai-inspect`` pages a DataFrame, ``backendai-export``
writes a notebook nbformat validates. One run of ``emacs/live.el``; logs in
``test-artifacts/emacs/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from editor_env import EMACS, EMACS_PACKAGE, SETUP_HINT, live_run

pytestmark = [pytest.mark.editor]

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not EMACS:
        pytest.fail(f"emacs is not installed: {SETUP_HINT}")
    return live_run(
        tmp_path_factory.mktemp("emacs-live"),
        "emacs",
        [EMACS, "--batch", "-l", str(HERE / "emacs" / "live.el")],
        {"BAI_PACKAGE": str(EMACS_PACKAGE)},
    )


def offered(answers: list[dict[str, Any]], fn: str) -> list[str]:
    return next(a["candidates"] for a in answers if a["fn"] == fn)


def test_completion_at_point_offers_the_session_next_to_the_other_server(
    run: dict[str, Any],
) -> None:
    assert run["other_manages_buffer"] is True and run["side_connection"] is True
    assert run["first_run"]["status"] == "finished", run["first_run"]
    at_xs = run["at_xs"]
    assert {"append", "sort"} <= set(offered(at_xs, "backendai-completion-at-point"))
    assert offered(at_xs, "eglot-completion-at-point") == ["from_other_server"]
    assert "dumps" in offered(run["at_json"], "backendai-completion-at-point")


def test_variables_buffer_lists_the_session_variables(run: dict[str, Any]) -> None:
    assert run["variables_mode"] == "backendai-variables-mode"
    rows = {row[0]: row for row in run["variables"]}
    assert rows["xs"][:3] == ["xs", "list", "3"] and rows["xs"][3] == "[3, 1, 2]"
    assert "json" not in rows
    assert "[3, 1, 2]" in run["variables_text"]


def test_inspect_pages_a_dataframe(run: dict[str, Any]) -> None:
    assert run["frame_run"]["status"] == "finished", run["frame_run"]
    assert run["columns"] == ["#", "n", "sq"]
    assert run["first_rows"] == 50
    assert "df: DataFrame" in run["first_header"] and "rows 1\u201350 of 120" in run["first_header"]
    assert "rows 51\u2013100 of 120" in run["second_header"]
    assert run["second_first_row"] == ["50", "50", "2500"]


def test_export_writes_a_valid_notebook(run: dict[str, Any]) -> None:
    import nbformat

    assert any("exported 2 runs to" in m for m in run["messages"]), run["messages"]
    nb = nbformat.read(run["export_path"], as_version=4)
    nbformat.validate(nb)
    assert len(nb.cells) == 2
