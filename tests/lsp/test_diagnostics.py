"""Runtime errors land as diagnostics on the user's own lines, and a good re-run clears them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types

from lsp.harness import PRIVATE, Harness, needs_backend, open_doc, rng, start_server, uri

pytestmark = needs_backend


def diags(h: Harness, doc_uri: str) -> list[tuple[int, int, int, int, str, Any]]:
    return [
        (
            d.range.start.line,
            d.range.start.character,
            d.range.end.line,
            d.range.end.character,
            d.message,
            d.severity,
        )
        for d in h.client.diagnostics.get(doc_uri, [])
    ]


def change(h: Harness, doc_uri: str, text: str, version: int) -> None:
    h.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=doc_uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def test_python_query_error_on_the_selected_line(tmp_path: Path, state_dir: Path) -> None:
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        doc = open_doc(h, tmp_path / "q.py", "x = 1\n\ny = 2\n    \nz = 1/0\nw = 3\n")
        result = await h.command("backendai.runSelection", {"uri": doc, "range": rng(2, 0, 5, 0)})
        assert result["status"] != "finished" or result["exitCode"] != 0, result
        await h.wait_for(lambda: diags(h, doc))
        assert diags(h, doc) == [
            (4, 0, 4, 7, "ZeroDivisionError: division by zero", types.DiagnosticSeverity.Error)
        ]
        assert h.client.diagnostics[doc][0].source == "Backend.AI (Python)"
        # another region's success leaves it; the same region's success clears it
        other = await h.command("backendai.runSelection", {"uri": doc, "range": rng(0, 0, 1, 0)})
        assert other["exitCode"] == 0
        assert len(diags(h, doc)) == 1
        change(h, doc, "x = 1\n\ny = 2\n    \nz = 1/1\nw = 3\n", 2)
        fixed = await h.command("backendai.runSelection", {"uri": doc, "range": rng(2, 0, 5, 0)})
        assert fixed["exitCode"] == 0, fixed
        await h.wait_for(lambda: not diags(h, doc))


async def test_python_batch_error_in_an_imported_module(tmp_path: Path, state_dir: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "helper.py").write_text("def f(x):\n    return 1 / x\n")
    main = tmp_path / "main.py"
    main.write_text("from pkg import helper\nprint(helper.f(0))\n")
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        result = await h.command("backendai.runFile", {"uri": uri(main), "mode": "batch"})
        assert result["exitCode"] == 1, result
        helper = uri(tmp_path / "pkg" / "helper.py")
        await h.wait_for(lambda: diags(h, helper))
        assert diags(h, helper) == [
            (1, 4, 1, 16, "ZeroDivisionError: division by zero", types.DiagnosticSeverity.Error)
        ]
        (caller,) = diags(h, uri(main))
        assert caller[:4] == (1, 0, 1, 18)
        assert caller[5] == types.DiagnosticSeverity.Information
        (tmp_path / "pkg" / "helper.py").write_text("def f(x):\n    return x\n")
        again = await h.command("backendai.runFile", {"uri": uri(main), "mode": "batch"})
        assert again["exitCode"] == 0, again
        await h.wait_for(lambda: not diags(h, helper) and not diags(h, uri(main)))


async def test_c_compile_error_on_the_token(tmp_path: Path, state_dir: Path) -> None:
    source = tmp_path / "src" / "broken.c"
    source.parent.mkdir()
    source.write_text("int main(void) {\n  return nope;\n}\n")
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        result = await h.command("backendai.runFile", {"uri": uri(source), "mode": "batch"})
        assert result["exitCode"] != 0
        await h.wait_for(lambda: diags(h, uri(source)))
        (first,) = [d for d in diags(h, uri(source)) if d[5] == types.DiagnosticSeverity.Error]
        assert first[:4] == (1, 9, 1, 13)  # "nope"
        assert "nope" in first[4] and "undeclared" in first[4]


async def test_node_exception_batch_and_query(tmp_path: Path, state_dir: Path) -> None:
    script = tmp_path / "a.js"
    script.write_text("function g() {\n  throw new Error('boom');\n}\ng();\n")
    async with start_server([tmp_path], state_dir=state_dir, init_options=PRIVATE) as h:
        result = await h.command("backendai.runFile", {"uri": uri(script), "mode": "batch"})
        assert result["exitCode"] != 0
        await h.wait_for(lambda: diags(h, uri(script)))
        assert sorted(diags(h, uri(script))) == [
            (1, 8, 1, 11, "Error: boom", types.DiagnosticSeverity.Error),
            (3, 0, 3, 1, "Error: boom (raised further down the call)", 3),
        ]
        doc = open_doc(
            h, tmp_path / "b.js", "// setup\nconst a = 1;\nnull.x;\n", language="javascript"
        )
        query = await h.command("backendai.runSelection", {"uri": doc, "range": rng(1, 0, 3, 0)})
        assert query["status"] != "finished" or query["exitCode"] != 0, query
        await h.wait_for(lambda: diags(h, doc))
        ((line, start, _, _, message, severity),) = diags(h, doc)
        assert (line, start, severity) == (2, 5, types.DiagnosticSeverity.Error)  # ".x"
        assert "TypeError" in message
