"""What code a command runs: a selection, a ``%%`` cell or a whole file.

Positions arrive in the client's negotiated encoding (``utf-16`` by default, ``utf-8`` for
Neovim, ``utf-32`` for eglot); this module converts them itself so the domain stays free
of pygls. Positions are clamped as the LSP specification says: a character past the end of
its line means the end of that line (Neovim's linewise selections end at column 2^31 - 1),
and a line past the last one means the end of the document. Only what no clamp can
repair is refused: a negative number, a column inside a character, a range that ends
before it starts.
"""

from __future__ import annotations

import re

import attrs

from bai_lsp.domain.errors import RangeOutOfBoundsError

#: Languages whose cells are marked ``// %%``; every other language uses ``# %%``.
SLASH_COMMENT_LANGUAGES: frozenset[str] = frozenset(
    {
        "c",
        "cpp",
        "csharp",
        "java",
        "javascript",
        "javascriptreact",
        "typescript",
        "typescriptreact",
        "go",
        "rust",
        "kotlin",
        "scala",
        "swift",
        "dart",
    }
)

#: File suffix → languageId, for files run from disk rather than from an open editor.
SUFFIX_LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".sh": "shellscript",
    ".bash": "shellscript",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
}


def language_for_path(path: str) -> str:
    suffix = path[path.rfind(".") :].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return SUFFIX_LANGUAGES.get(suffix, "plaintext")


_HASH_CELL = re.compile(r"^\s*#\s*%%")
_SLASH_CELL = re.compile(r"^\s*//\s*%%")


@attrs.frozen
class Position:
    line: int
    character: int


@attrs.frozen
class Range:
    start: Position
    end: Position


@attrs.frozen
class Snippet:
    """Code to run and where it came from (0-based lines, ``end_line`` inclusive)."""

    code: str
    start_line: int
    end_line: int


def split_lines(text: str) -> list[str]:
    """Lines with their terminators, as LSP counts them (``\\n``, ``\\r\\n`` or ``\\r``)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[-1].endswith(("\n", "\r")):
        lines.append("")
    return lines


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def column_to_index(line: str, character: int, encoding: str = "utf-16") -> int:
    """Turn a client column into a Python string index; past the line's end is its end, and
    ``-1`` means the column falls inside a character (e.g. between a surrogate pair)."""
    if encoding == "utf-32":
        return min(character, len(line))
    units = 0
    for index, char in enumerate(line):
        if units >= character:
            return index if units == character else -1
        if encoding == "utf-8":
            units += len(char.encode("utf-8"))
        else:
            units += 2 if ord(char) > 0xFFFF else 1
    return len(line) if units <= character else -1


def _clamp(lines: list[str], pos: Position, encoding: str, what: str) -> tuple[int, int]:
    """``(line, index in that line)`` of a client position, clamped as LSP says."""
    if pos.line < 0 or pos.character < 0:
        raise RangeOutOfBoundsError(f"The {what} position {_fmt(pos)} is negative.")
    if pos.line >= len(lines):
        last = len(lines) - 1
        return last, len(_strip_eol(lines[last]))
    body = _strip_eol(lines[pos.line])
    index = column_to_index(body, pos.character, encoding)
    if index < 0:
        raise RangeOutOfBoundsError(
            f"The {what} position {_fmt(pos)} falls inside a character of line {pos.line + 1} "
            f"(columns count {encoding} code units)."
        )
    return pos.line, index


def _offset(lines: list[str], line: int, index: int) -> int:
    return sum(len(text) for text in lines[:line]) + index


def _fmt(pos: Position) -> str:
    return f"line {pos.line + 1}, column {pos.character + 1}"


def selection(text: str, rng: Range, encoding: str = "utf-16") -> Snippet:
    """The selected text; an empty range means the whole current line."""
    lines = split_lines(text)
    start_line, start_index = _clamp(lines, rng.start, encoding, "start")
    end_line, end_index = _clamp(lines, rng.end, encoding, "end")
    start = _offset(lines, start_line, start_index)
    end = _offset(lines, end_line, end_index)
    if end < start:
        raise RangeOutOfBoundsError(
            f"The range ends ({_fmt(rng.end)}) before it starts ({_fmt(rng.start)})."
        )
    if start == end:
        return Snippet(_strip_eol(lines[start_line]), start_line, start_line)
    if end_index == 0 and end_line > start_line:
        end_line -= 1  # a linewise range ending at the start of the next line
    return Snippet(text[start:end], start_line, end_line)


def cell_marker(language_id: str) -> re.Pattern[str]:
    return _SLASH_CELL if language_id in SLASH_COMMENT_LANGUAGES else _HASH_CELL


def cell(text: str, position: Position, language_id: str, encoding: str = "utf-16") -> Snippet:
    """The ``%%`` cell around ``position``: after the nearest marker line at or above it, up
    to the next marker (or the whole document when it has no markers)."""
    lines = split_lines(text)
    line, _ = _clamp(lines, position, encoding, "cursor")
    marker = cell_marker(language_id)
    start = 0
    for index in range(line, -1, -1):
        if marker.match(lines[index]):
            start = index + 1
            break
    end = len(lines)
    for index in range(max(line + 1, start), len(lines)):
        if marker.match(lines[index]):
            end = index
            break
    body = lines[start:end]
    code = "".join(body).rstrip("\r\n")
    return Snippet(code, start, max(start, end - 1))


def whole_file(text: str) -> Snippet:
    lines = split_lines(text)
    return Snippet(text, 0, max(0, len(lines) - 1))
