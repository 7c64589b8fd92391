"""The run log as a plot history and as a document: ``runs.media`` and ``runs.export``.

An export is a record of what ran, in order, with what it printed: each logged run becomes
one code cell (nbformat 4.5, outputs included, ``metadata.backendai`` saying which run,
how it ended) or one section of a standalone HTML page (images inlined as data URIs, HTML
outputs in sandboxed frames, so a page exported from untrusted output runs no script).
Neither needs nbformat at run time: the notebook is plain JSON (tests validate it with
nbformat).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from bai_lsp.domain.errors import InvalidParamsError
from bai_lsp.domain.events import Record
from bai_lsp.domain.runlog import RunEntry, RunLog, Transcript

FORMATS = ("ipynb", "html")
_TEXT_MIMES = ("image/svg+xml", "text/html")


@attrs.frozen
class MediaItem:
    run_id: str
    uri: str
    started_at: float
    mime: str
    data: str
    """Base64 for PNG/JPEG, the text for SVG and HTML."""


@attrs.frozen
class MediaList:
    media: list[MediaItem]


@attrs.frozen
class Exported:
    path: str
    format: str
    runs: int


def belongs(uri: str | None) -> Any:
    """Runs of ``uri``: the document itself, or every document under a folder URI."""
    if not uri:
        return lambda run: True
    folder = uri.rstrip("/") + "/"
    return lambda run: run.uri == uri or run.uri.startswith(folder)


def _mime(record: Record) -> str | None:
    if record.type == "html":
        return "text/html"
    if record.type == "media" and record.data is not None:
        return record.mime or "application/octet-stream"
    return None


async def media(runlog: RunLog, uri: str | None) -> MediaList:
    """Every image or HTML output of the log (of ``uri``), newest first."""
    items: list[MediaItem] = []
    for t in await runlog.transcripts(belongs(uri)):
        for record in t.records:
            mime = _mime(record)
            if mime is not None:
                items.append(
                    MediaItem(t.run.run_id, t.run.uri, t.run.started_at, mime, record.data or "")
                )
    items.reverse()
    return MediaList(items)


async def export(runlog: RunLog, uri: str | None, fmt: str, path: str) -> Exported:
    if fmt not in FORMATS:
        raise InvalidParamsError(
            f'backendai.runs.export: \'format\' must be "ipynb" or "html", got {fmt!r:.40}.'
        )
    target = Path(path)
    if not target.is_absolute():
        raise InvalidParamsError(
            f"backendai.runs.export: 'path' must be an absolute file path, got {path!r:.200}."
        )
    transcripts = await runlog.transcripts(belongs(uri))
    text = notebook_json(transcripts) if fmt == "ipynb" else html_page(transcripts, uri)
    try:
        await asyncio.to_thread(_write, target, text)
    except OSError as exc:
        raise InvalidParamsError(f"Cannot write the export to {target}: {exc.strerror}.") from None
    return Exported(str(target), fmt, len(transcripts))


def _write(target: Path, text: str) -> None:
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)


# --- notebook ---------------------------------------------------------------------------


def _language(runs: Sequence[Transcript]) -> str:
    suffixes = {"py": "python", "js": "javascript", "sh": "bash", "c": "c", "cpp": "c++"}
    for t in runs:
        suffix = t.run.uri.rsplit(".", 1)[-1] if "." in t.run.uri.rsplit("/", 1)[-1] else ""
        if suffix in suffixes:
            return suffixes[suffix]
    return "python"


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _outputs(records: Sequence[Record]) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    for record in records:
        if record.type in ("stdout", "stderr"):
            last = outputs[-1] if outputs else None
            if last and last["output_type"] == "stream" and last["name"] == record.type:
                last["text"] += record.text or ""
            else:
                outputs.append(
                    {"output_type": "stream", "name": record.type, "text": record.text or ""}
                )
            continue
        mime = _mime(record)
        if mime is None:
            continue
        data: dict[str, Any] = {mime: record.data or ""}
        if mime in _TEXT_MIMES:
            data[mime] = _lines(record.data or "")
        outputs.append({"output_type": "display_data", "data": data, "metadata": {}})
    for out in outputs:
        if out["output_type"] == "stream":
            out["text"] = _lines(out["text"])
    return outputs


def _run_metadata(run: RunEntry) -> dict[str, Any]:
    meta = {
        "runId": run.run_id,
        "uri": run.uri,
        "mode": run.mode,
        "sessionName": run.session_name,
        "startedAt": run.started_at,
        "status": run.status,
        "exitCode": run.exit_code,
        "durationMs": run.duration_ms,
    }
    return {k: v for k, v in meta.items() if v is not None}


def notebook(runs: Sequence[Transcript]) -> dict[str, Any]:
    language = _language(runs)
    cells = [
        {
            "cell_type": "code",
            "id": t.run.run_id[:64] or f"run-{n}",
            "metadata": {"backendai": _run_metadata(t.run)},
            "execution_count": n,
            "source": _lines(t.code),
            "outputs": _outputs(t.records),
        }
        for n, t in enumerate(runs, start=1)
    ]
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "language_info": {"name": language},
            "backendai": {"exportedBy": "bai-lsp"},
        },
        "cells": cells,
    }


def notebook_json(runs: Sequence[Transcript]) -> str:
    return json.dumps(notebook(runs), indent=1, ensure_ascii=False) + "\n"


# --- HTML -------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; }
section { border-top: 1px solid #ccc; padding: .5em 0; }
header { color: #555; font-size: .9em; }
pre { background: #f6f8fa; padding: .5em; overflow-x: auto; white-space: pre-wrap; }
pre.stderr { background: #fff0f0; }
img { max-width: 100%; }
iframe { width: 100%; height: 20em; border: 1px solid #ddd; }
"""


def _record_html(record: Record) -> str:
    if record.type in ("stdout", "stderr"):
        return f'<pre class="{record.type}">{html.escape(record.text or "")}</pre>'
    mime = _mime(record)
    data = record.data or ""
    if mime == "text/html":
        return f'<iframe sandbox="" srcdoc="{html.escape(data, quote=True)}"></iframe>'
    if mime == "image/svg+xml":
        data = base64.b64encode(data.encode("utf-8")).decode("ascii")
    if mime is not None and mime.startswith("image/"):
        return f'<img alt="output" src="data:{html.escape(mime)};base64,{html.escape(data)}">'
    return ""


def _merged(records: Sequence[Record]) -> list[Record]:
    out: list[Record] = []
    for r in records:
        if out and r.type in ("stdout", "stderr") and out[-1].type == r.type:
            out[-1] = Record(r.type, (out[-1].text or "") + (r.text or ""))
        else:
            out.append(r)
    return out


def html_page(runs: Sequence[Transcript], uri: str | None) -> str:
    title = f"Backend.AI runs of {uri}" if uri else "Backend.AI runs"
    sections = []
    for n, t in enumerate(runs, start=1):
        run = t.run
        status = run.status or "not finished"
        if run.exit_code is not None:
            status += f", exit code {run.exit_code}"
        header = (
            f"<header>[{n}] {html.escape(run.uri)} · {html.escape(run.mode)} · "
            f"{html.escape(run.session_name)} · {html.escape(status)}</header>"
        )
        body = "".join(_record_html(r) for r in _merged(t.records))
        code = f'<pre class="code"><code>{html.escape(t.code)}</code></pre>'
        anchor = html.escape(run.run_id)
        sections.append(f'<section id="run-{anchor}">{header}{code}{body}</section>')
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n"
    )
