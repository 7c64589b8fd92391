"""What bai-lsp writes on the LSP channel: ``Content-Length`` counts the UTF-8 bytes of
the body that follows, whatever the text (orjson, with pygls' ASCII-escaped framing for
what orjson refuses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bai_lsp.lsp.server import BaiLanguageServer


class _Channel:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass

    def messages(self) -> list[dict[str, Any]]:
        out, rest = [], self.data
        while rest:
            head, _, rest = rest.partition(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            body, rest = rest[:length], rest[length:]
            out.append(json.loads(body.decode("utf-8")))
        return out


@pytest.mark.parametrize(
    "text",
    ["plain", "é漢😀\n" * 1000, "a\ud800b", "x" * 300_000, "\x00\x1b[31mred\x1b[0m"],
)
def test_every_text_is_framed_by_its_byte_length(text: str, tmp_path: Path) -> None:
    server = BaiLanguageServer(state_dir=tmp_path)
    channel = _Channel()
    server.protocol.set_writer(channel)
    server.protocol.notify("backendai/output", {"runId": "r", "records": [{"text": text}]})
    server.protocol.notify("backendai/runFinished", {"runId": "r", "status": "finished"})
    first, second = channel.messages()
    assert first["params"]["records"][0]["text"] == text
    assert second["params"]["status"] == "finished"
