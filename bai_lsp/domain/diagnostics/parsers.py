"""Error reports in console output, as the tools print them: Python tracebacks, gcc/clang
diagnostics and Node stack traces.

A parser only reads text; where a path lands in the editor is ``mapping``'s business. Each
parser is a function from the run's whole console text to ``Hit`` values, registered in
``PARSERS``: adding a language is one function and one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@attrs.frozen
class Hit:
    """One place an error report points at (``line``/``column`` are 1-based, as printed)."""

    file: str
    line: int
    column: int | None
    message: str
    severity: str = "error"
    """``error``, ``warning`` or ``information``."""
    source: str = "python"
    primary: bool = True
    """False for the callers of the failing frame: shown, but quieter."""


Parser = Callable[[str], list[Hit]]

# --- Python ---------------------------------------------------------------------------

_PY_FILE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_PY_CELL = re.compile(r"^\s*Cell In\s*\[\d*\], line (?P<line>\d+)")
_PY_INPUT = re.compile(r"^\s*Input In \[\d*\], in <cell line: (?P<line>\d+)>")
_PY_EXC = re.compile(
    r"^(?P<name>[A-Za-z_][\w.]*(?:Error|Exception|Warning|Interrupt|Exit))(?::\s?(?P<msg>.*))?$"
)
#: The query-mode cell of a Jupyter kernel, whatever the IPython version calls it.
CELL = "<cell>"


def python_tracebacks(text: str) -> list[Hit]:
    hits: list[Hit] = []
    frames: list[tuple[str, int]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if m := _PY_FILE.match(line):
            frames.append((m["file"], int(m["line"])))
        elif (m := _PY_CELL.match(line)) or (m := _PY_INPUT.match(line)):
            frames.append((CELL, int(m["line"])))
        elif frames and (m := _PY_EXC.match(line)):
            message = f"{m['name']}: {m['msg']}" if m["msg"] else m["name"]
            last = len(frames) - 1
            for index, (file, number) in enumerate(frames):
                hits.append(
                    Hit(
                        file,
                        number,
                        None,
                        message if index == last else f"{message} (raised further down the call)",
                        "error" if index == last else "information",
                        "python",
                        index == last,
                    )
                )
            frames = []
    return hits


# --- gcc / clang ----------------------------------------------------------------------

_CC = re.compile(
    r"^(?P<file>[^\s:][^:\n]*):(?P<line>\d+):(?:(?P<col>\d+):)?\s*"
    r"(?P<sev>fatal error|error|warning|note):\s*(?P<msg>.*)$"
)


def compiler_messages(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for raw in text.splitlines():
        m = _CC.match(raw.rstrip())
        if m is None:
            continue
        sev = {"fatal error": "error", "error": "error", "warning": "warning"}.get(
            m["sev"], "information"
        )
        hits.append(
            Hit(
                m["file"],
                int(m["line"]),
                int(m["col"]) if m["col"] else None,
                m["msg"],
                sev,
                "cc",
                sev != "information",
            )
        )
    return hits


# --- Node -----------------------------------------------------------------------------

_NODE_HEAD = re.compile(r"^(?P<file>\S+?\.(?:js|mjs|cjs|ts)):(?P<line>\d+)$")
_NODE_AT = re.compile(
    r"^\s+at (?:.*? \()?(?P<file>[^()\s]+?\.(?:js|mjs|cjs|ts)):(?P<line>\d+):(?P<col>\d+)\)?$"
)
_NODE_MSG = re.compile(r"^(?P<msg>[A-Za-z_$][\w$]*(?:Error|Exception)?(?::.*)?)$")


def node_traces(text: str) -> list[Hit]:
    hits: list[Hit] = []
    lines = [_ANSI.sub("", raw.rstrip()) for raw in text.splitlines()]
    head: tuple[str, int] | None = None
    message = ""
    frames: list[tuple[str, int, int | None]] = []

    def flush() -> None:
        nonlocal head, frames, message
        chain = list(frames)
        if head is not None and (not chain or chain[0][:2] != head):
            chain.insert(0, (head[0], head[1], None))
        if chain and message:
            for index, (file, number, col) in enumerate(chain):
                first = index == 0
                hits.append(
                    Hit(
                        file,
                        number,
                        col,
                        message if first else f"{message} (raised further down the call)",
                        "error" if first else "information",
                        "node",
                        first,
                    )
                )
        head, frames, message = None, [], ""

    for line in lines:
        if m := _NODE_HEAD.match(line):
            flush()
            head = (m["file"], int(m["line"]))
        elif m := _NODE_AT.match(line):
            if not m["file"].startswith("node:"):
                frames.append((m["file"], int(m["line"]), int(m["col"])))
        elif line.strip().startswith("at "):
            continue  # a frame inside node itself
        elif (
            (head is not None or not frames)
            and not message
            and _NODE_MSG.match(line)
            and ("Error" in line or "Exception" in line)
        ):
            message = line.strip()
        elif frames and line.strip() == "":
            flush()
    flush()
    return hits


#: Every parser, tried on every failed run's output.
PARSERS: list[Parser] = [python_tracebacks, compiler_messages, node_traces]


def parse(text: str) -> list[Hit]:
    clean = _ANSI.sub("", text)
    hits: list[Hit] = []
    for parser in PARSERS:
        hits.extend(parser(clean))
    return hits
