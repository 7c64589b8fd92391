"""What runs when the user runs a selection, a cell or a file."""

from __future__ import annotations

import pytest

from bai_lsp.domain.documents import Position, Range, cell, selection, whole_file
from bai_lsp.domain.errors import RangeOutOfBoundsError

DOC = "import os\nx = 1\ny = 2\nprint(x + y)\n"


def rng(l1: int, c1: int, l2: int, c2: int) -> Range:
    return Range(Position(l1, c1), Position(l2, c2))


def test_multi_line_selection() -> None:
    assert selection(DOC, rng(1, 0, 3, 12)).code == "x = 1\ny = 2\nprint(x + y)"


def test_empty_range_runs_the_current_line() -> None:
    snippet = selection(DOC, rng(2, 3, 2, 3))
    assert snippet.code == "y = 2"
    assert (snippet.start_line, snippet.end_line) == (2, 2)


def test_line_wise_selection_ending_at_next_line_start() -> None:
    snippet = selection(DOC, rng(1, 0, 3, 0))
    assert snippet.code == "x = 1\ny = 2\n"
    assert snippet.end_line == 2


@pytest.mark.parametrize(("encoding", "column"), [("utf-16", 7), ("utf-8", 9), ("utf-32", 6)])
def test_columns_follow_the_negotiated_encoding(encoding: str, column: int) -> None:
    text = "s = '😀é'\n"
    # the column just after the emoji: utf-16 counts it twice, utf-8 four times
    code = selection(text, rng(0, 0, 0, column), encoding).code
    assert code.endswith("😀")


@pytest.mark.parametrize(
    ("given", "code", "lines"),
    [
        # a character past the end of its line is that line's end (LSP: "defaults back")
        (rng(1, 0, 2, 31), "x = 1\ny = 2", (1, 2)),
        # Neovim's linewise visual selection ends at column 2^31 - 1
        (rng(1, 0, 1, 2**31 - 1), "x = 1", (1, 1)),
        # a line past the last one is the end of the document
        (rng(2, 0, 9, 0), "y = 2\nprint(x + y)\n", (2, 3)),
        (rng(3, 0, 99, 7), "print(x + y)\n", (3, 3)),
        # the start clamps too: past its line it runs nothing of that line
        (rng(0, 40, 1, 5), "\nx = 1", (0, 1)),
    ],
)
def test_positions_past_the_end_are_clamped(
    given: Range, code: str, lines: tuple[int, int]
) -> None:
    snippet = selection(DOC, given)
    assert snippet.code == code
    assert (snippet.start_line, snippet.end_line) == lines


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_clamping_counts_in_every_encoding(encoding: str) -> None:
    text = "a = '😀é'\nb = 2\n"
    assert selection(text, rng(0, 0, 0, 1000), encoding).code == "a = '😀é'"


def test_an_empty_range_past_the_document_runs_its_last_line() -> None:
    snippet = selection("x = 1\ny = 2", rng(7, 3, 7, 3))
    assert (snippet.code, snippet.start_line) == ("y = 2", 1)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (rng(2, 0, 1, 0), "ends (line 2, column 1) before it starts"),
        (rng(1, 99, 1, 2), "ends (line 2, column 3) before it starts (line 2, column 100)"),
        (rng(-1, 0, 0, 0), "negative"),
        (rng(0, 0, 0, -4), "negative"),
    ],
)
def test_ranges_no_clamp_repairs_are_refused(bad: Range, message: str) -> None:
    with pytest.raises(RangeOutOfBoundsError) as caught:
        selection(DOC, bad)
    assert message in caught.value.message


def test_a_column_inside_a_character_is_refused() -> None:
    # column 1 in UTF-16 is between the two halves of the emoji's surrogate pair
    with pytest.raises(RangeOutOfBoundsError) as caught:
        selection("😀 = 1\n", rng(0, 0, 0, 1))
    assert "inside a character of line 1" in caught.value.message


CELLS = "# %% first\na = 1\n\n# %% second\nb = a + 1\nprint(b)\n# %%\nc = 3\n"


def test_cell_around_the_cursor() -> None:
    assert cell(CELLS, Position(4, 2), "python").code == "b = a + 1\nprint(b)"
    assert cell(CELLS, Position(1, 0), "python").code == "a = 1"
    assert cell(CELLS, Position(7, 0), "python").code == "c = 3"


def test_cursor_on_a_marker_runs_the_cell_below_it() -> None:
    assert cell(CELLS, Position(3, 0), "python").code == "b = a + 1\nprint(b)"


def test_no_markers_means_the_whole_document() -> None:
    assert cell(DOC, Position(1, 0), "python").code == DOC.rstrip("\n")


def test_c_like_languages_use_slash_markers() -> None:
    text = '#include <stdio.h>\n// %%\nint x = 1;\n// %% two\nputs("hi");\n'
    assert cell(text, Position(2, 0), "c").code == "int x = 1;"
    assert cell(text, Position(4, 0), "c").code == 'puts("hi");'
    # '#include' is not a cell marker in C
    assert cell(text, Position(0, 0), "c").code == "#include <stdio.h>"


def test_cell_position_past_the_end_is_the_last_cell() -> None:
    assert cell(CELLS, Position(50, 0), "python").code == "c = 3"
    assert cell(CELLS, Position(4, 999), "python").code == "b = a + 1\nprint(b)"


def test_negative_cell_position_is_refused() -> None:
    with pytest.raises(RangeOutOfBoundsError):
        cell(CELLS, Position(-1, 0), "python")


def test_whole_file() -> None:
    assert whole_file(DOC).code == DOC
