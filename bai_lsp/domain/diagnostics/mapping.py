"""Where a reported path and line land in the editor.

Query mode: the code ran as an anonymous snippet (a Jupyter cell, ``snippet.js``,
``snippet.c``…), so its line ``L`` is line ``start + L - 1`` of the document the snippet
came from. Batch mode: the workspace was uploaded under the session's working directory, so
a remote path ends with a workspace-relative path; the longest such suffix that exists in
the folder (or is the file that ran) wins. Paths that match nothing (the standard library,
node internals, system headers) are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import attrs

from bai_lsp.domain.diagnostics.parsers import CELL, Hit

_SNIPPET = re.compile(
    r"^(?:<cell>|<stdin>|<string>|<ipython-input-[^>]*>|snippet\d*\.\w+"
    r"|/tmp/ipykernel_\d+/\d+\.py)$"
)


@attrs.frozen
class RunOrigin:
    """What ran: a document, and for query runs of a part of it, the lines (0-based)."""

    uri: str
    text: str
    path: str | None
    folder_path: str | None
    mode: str
    start_line: int = 0
    end_line: int | None = None
    encoding: str = "utf-16"

    @property
    def whole_file(self) -> bool:
        return self.end_line is None


@attrs.frozen
class Placed:
    """A hit resolved to a document position (0-based line, code-unit columns)."""

    uri: str
    line: int
    start: int
    end: int
    hit: Hit


def _is_snippet(file: str) -> bool:
    return (
        file == CELL or bool(_SNIPPET.match(file)) or bool(_SNIPPET.match(PurePosixPath(file).name))
    )


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-16":
        return sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    if encoding == "utf-8":
        return len(text.encode())
    return len(text)


def _span(line_text: str, column: int | None, encoding: str) -> tuple[int, int]:
    """The token at ``column`` (1-based), or the line without its indentation."""
    body = line_text.rstrip("\r\n")
    if column is not None and 0 < column <= len(body) + 1:
        index = column - 1
        token = re.match(r"[\w$]+|\S", body[index:])
        end = index + (len(token.group()) if token else 0)
        return _units(body[:index], encoding), _units(body[:end], encoding)
    indent = len(body) - len(body.lstrip())
    return _units(body[:indent], encoding), _units(body, encoding)


def _workspace_file(origin: RunOrigin, file: str) -> Path | None:
    """The local file a remote path stands for (blocking: call in a thread)."""
    parts = PurePosixPath(file.replace("\\", "/")).parts
    parts = tuple(p for p in parts if p not in ("/", "."))
    run_path = Path(origin.path) if origin.path else None
    folder = Path(origin.folder_path) if origin.folder_path else None
    if folder is None and run_path is not None:
        folder = run_path.parent
    if folder is None:
        return None
    for start in range(len(parts)):
        candidate = folder.joinpath(*parts[start:])
        if candidate == run_path or candidate.is_file():
            return candidate
    return None


def place(origin: RunOrigin, hits: list[Hit]) -> list[Placed]:
    """Resolve what can be resolved (blocking: reads other files; call in a thread)."""
    own_lines = origin.text.splitlines()
    run_path = Path(origin.path) if origin.path else None
    texts: dict[Path, list[str]] = {}
    placed: list[Placed] = []
    for hit in hits:
        if _is_snippet(hit.file):
            if origin.mode != "query":
                continue
            line = origin.start_line + hit.line - 1
            if origin.end_line is not None and not origin.start_line <= line <= origin.end_line:
                continue
            uri, lines = origin.uri, own_lines
        else:
            local = _workspace_file(origin, hit.file)
            if local is None:
                continue
            line = hit.line - 1
            if local == run_path:
                uri, lines = origin.uri, own_lines
            else:
                if local not in texts:
                    try:
                        texts[local] = local.read_text(errors="replace").splitlines()
                    except OSError:
                        continue
                uri, lines = local.as_uri(), texts[local]
        if not 0 <= line < max(len(lines), 1):
            continue
        start, end = _span(lines[line] if lines else "", hit.column, origin.encoding)
        placed.append(Placed(uri, line, start, end, hit))
    return placed
