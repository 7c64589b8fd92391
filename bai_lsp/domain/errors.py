"""Failures the domain reports to whoever drives it (the LSP handlers or the terminal runner).

Each error carries a stable ``kind`` that the transport maps to a JSON-RPC code
(``bai_lsp.lsp.errors``), and a message written for the person at the editor: no
traceback, no secret, no internal class name.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class; ``kind`` is the stable machine-readable name documented in docs/protocol.md."""

    kind = "backendError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParamsError(DomainError):
    kind = "invalidParams"


class UnknownDocumentError(DomainError):
    kind = "unknownDocument"


class RangeOutOfBoundsError(DomainError):
    kind = "rangeOutOfBounds"


class NoSessionError(DomainError):
    kind = "noSession"


class BackendUnreachableError(DomainError):
    kind = "backendUnreachable"


class CredentialsRefusedError(DomainError):
    kind = "credentialsRefused"


class BackendError(DomainError):
    kind = "backendError"


class UnknownRunError(DomainError):
    kind = "unknownRun"


class SessionBusyError(DomainError):
    """The session runs code; what was asked (variables, inspect) waits for it to be idle."""

    kind = "sessionBusy"


class InvalidSettingsError(DomainError):
    kind = "invalidSettings"


class CancelledByUserError(DomainError):
    """The user cancelled a long operation (work-done progress cancel)."""

    kind = "cancelled"
