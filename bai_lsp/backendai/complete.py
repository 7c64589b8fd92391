"""Completion: ``POST /session/{ref}/complete`` with the answer's flags kept.

``complete()`` (execute.py) returns the bare list as the SDK does; ``completions()`` also
says whether the backend answered empty only because a cell was running (the embedded
gateway's ``busy: true``; a manager never says so), so that an editor can ask again.
"""

from __future__ import annotations

from typing import Any

import attrs

from bai_lsp.backendai.connection import BaseClient, check_ref


@attrs.frozen
class Completions:
    matches: list[str]
    """Whole dotted names from our gateway (``json.dumps`` for ``json.du``)."""
    busy: bool = False
    """The backend did not ask the kernel: a cell was running."""


def parse_completions(body: Any) -> Completions:
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        return Completions([])
    matches = result.get("completions")
    return Completions(
        [str(m) for m in matches] if isinstance(matches, list) else [],
        busy=result.get("busy") is True,
    )


class CompleteCalls(BaseClient):
    async def completions(
        self, ref: str, code: str, options: dict[str, Any] | None = None
    ) -> Completions:
        """Completion candidates at ``options.row/col`` of ``code`` (else at its end)."""
        reply = await self._transport.request(
            "POST",
            f"/session/{check_ref(ref)}/complete",
            json_body={"code": code, "options": options or {}},
        )
        return parse_completions(reply.json())
