"""The live session's answers (``domain/live.py``) as LSP completion and hover results."""

from __future__ import annotations

from lsprotocol import types

from bai_lsp.domain.live import CompletionAnswer, HoverAnswer

#: Shown next to each item, so the user can tell them from a local server's.
DETAIL = "Backend.AI session"


def _range(line: int, start: int, end: int) -> types.Range:
    return types.Range(types.Position(line, start), types.Position(line, end))


def completion_list(answer: CompletionAnswer) -> types.CompletionList:
    edit_range = _range(answer.line, answer.start, answer.end)
    return types.CompletionList(
        is_incomplete=answer.incomplete,
        items=[
            types.CompletionItem(
                label=label,
                detail=DETAIL,
                text_edit=types.TextEdit(edit_range, label),
                sort_text=f"{n:04d}",
            )
            for n, label in enumerate(answer.items)
        ],
    )


def hover(answer: HoverAnswer) -> types.Hover:
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=answer.markdown),
        range=_range(answer.line, answer.start, answer.end),
    )
