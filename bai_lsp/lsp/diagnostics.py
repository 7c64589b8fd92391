"""The domain's runtime-error diagnostics as ``textDocument/publishDiagnostics``."""

from __future__ import annotations

from collections.abc import Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from bai_lsp.domain.diagnostics import Diagnostic

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
}

#: ``Diagnostic.source`` as the editor shows it (which tool reported the problem).
SOURCES = {
    "python": "Backend.AI (Python)",
    "cc": "Backend.AI (compiler)",
    "node": "Backend.AI (Node)",
}


def to_lsp(diag: Diagnostic) -> types.Diagnostic:
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=diag.line, character=diag.start),
            end=types.Position(line=diag.line, character=diag.end),
        ),
        message=diag.message,
        severity=_SEVERITY.get(diag.severity, types.DiagnosticSeverity.Error),
        source=SOURCES.get(diag.source, "Backend.AI"),
    )


def publisher(server: LanguageServer) -> Callable[[str, list[Diagnostic]], None]:
    def publish(uri: str, diags: list[Diagnostic]) -> None:
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[to_lsp(d) for d in diags])
        )

    return publish
