"""The parsers read error reports as the tools really print them; the mapping puts them on
the user's lines and drops what is not the user's."""

from __future__ import annotations

from pathlib import Path

from bai_lsp.domain.diagnostics import DiagnosticsTracker, RunOrigin, parse
from bai_lsp.domain.diagnostics.mapping import place
from bai_lsp.domain.events import OutputBatch, Record

IPYTHON_OLD = (
    "ZeroDivisionError                         Traceback (most recent call last)\n"
    "Input In [4], in <cell line: 3>()\n      1 a = 1\n----> 3 1/0\n\n"
    "ZeroDivisionError: division by zero\n"
)
IPYTHON_COLOUR = (
    "\x1b[0;31mNameError\x1b[0m  Traceback (most recent call last)\n"
    "Cell \x1b[0;32mIn[2], line 1\x1b[0m\n\x1b[0;32m----> 1\x1b[0m nope\n\n"
    "\x1b[0;31mNameError\x1b[0m: name 'nope' is not defined\n"
)
SYNTAX = (
    "  File \"/srv/w/main.py\", line 3\n    x = (\n        ^\nSyntaxError: '(' was never closed\n"
)
CLANG = "lib/m.c:7:3: warning: unused variable 'q' [-Wunused-variable]\nlib/m.c:9: error: bad\n"


def test_ipython_variants_and_colour() -> None:
    (old,) = parse(IPYTHON_OLD)
    assert (old.file, old.line, old.message) == ("<cell>", 3, "ZeroDivisionError: division by zero")
    (coloured,) = parse(IPYTHON_COLOUR)
    assert (coloured.line, coloured.message) == (1, "NameError: name 'nope' is not defined")


def test_syntax_error_without_traceback_header() -> None:
    (hit,) = parse(SYNTAX)
    assert (hit.file, hit.line, hit.message) == (
        "/srv/w/main.py",
        3,
        "SyntaxError: '(' was never closed",
    )


def test_compiler_warning_and_error_without_column() -> None:
    warning, error = parse(CLANG)
    assert (warning.severity, warning.line, warning.column) == ("warning", 7, 3)
    assert (error.severity, error.line, error.column, error.message) == ("error", 9, None, "bad")


def test_plain_output_is_not_an_error() -> None:
    assert parse("Error rate: 3%\nat least 2 things: ok\nFile saved\n") == []


def test_remote_paths_map_to_workspace_files_only(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("a = 1\n\tb = 2 ✓\n")
    origin = RunOrigin(
        (tmp_path / "main.py").as_uri(), "x\n", str(tmp_path / "main.py"), str(tmp_path), "batch"
    )
    hits = parse(
        "Traceback (most recent call last):\n"
        '  File "/remote/sess/main.py", line 1, in <module>\n'
        '  File "/usr/lib/python3.11/json/__init__.py", line 2, in loads\n'
        '  File "/remote/sess/pkg/mod.py", line 2, in <module>\n'
        "ValueError: no\n"
    )
    placed = place(origin, hits)
    assert [(p.uri.rsplit("/", 2)[-1], p.line, p.start, p.end) for p in placed] == [
        ("main.py", 0, 0, 1),
        ("mod.py", 1, 1, 8),
    ]


async def test_a_rerun_of_the_region_replaces_its_diagnostics() -> None:
    published: list[tuple[str, int]] = []
    tracker = DiagnosticsTracker(lambda uri, d: published.append((uri, len(d))))
    text = "a\nb\nc = 1/0\n"
    region = RunOrigin("file:///d.py", text, None, None, "query", 1, 2)
    tracker.begin("r1", region)
    tracker.sink("r1", lambda b: None)(
        OutputBatch("r1", 0, [Record("stderr", text="Cell In[1], line 2\nZeroDivisionError: x\n")])
    )
    await tracker.finish("r1", "finished")
    assert published == [("file:///d.py", 1)]
    assert tracker.shown("file:///d.py")[0].line == 2
    tracker.begin("r2", RunOrigin("file:///d.py", text, None, None, "query", 0, 0))
    await tracker.finish("r2", "finished")  # another region: nothing changes
    assert published == [("file:///d.py", 1)]
    tracker.begin("r3", RunOrigin("file:///d.py", text, None, None, "query", 2, 2))
    await tracker.finish("r3", "finished")
    assert published[-1] == ("file:///d.py", 0)
