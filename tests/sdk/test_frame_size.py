"""Big output through the official SDK's stream_execute: its WebSocket (aiohttp's default
``max_msg_size``, 4 MiB) must never receive a frame over that limit, whatever the text.

Control characters are escaped as 6 bytes in JSON and non-ASCII text as 6 (or 12) bytes,
so 4 Mi characters of such output would be a frame of up to 48 MiB; the gateway bounds
every frame by its encoded size instead (docs/images.md, "Runs, polls and buffering").
"""

from __future__ import annotations

import hashlib

import pytest

from .conftest import SdkRunner

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

#: One unit: 10 characters, 3 of them control characters and 3 non-ASCII (≈ 40 bytes in JSON).
UNIT = "\x01\x1b[0m\x07" + "é" * 3 + "\n"
UNITS = 2_000_000  # 20 M characters, ≈ 80 MB of JSON


@pytest.mark.same_on_every_dialect
def test_twenty_mb_of_control_characters_reach_the_sdk_whole(sdk: SdkRunner) -> None:
    code = f"import sys\nsys.stdout.write({UNIT!r} * {UNITS})\nprint('done')\n"
    out = sdk.example("stream_execute.py", env={"EXAMPLE_CODE": code}, timeout=600)
    assert "MESSAGE_TOO_BIG" not in out.stderr and "exceeds limit" not in out.stderr, out.stderr
    out.check()
    expected = UNIT * UNITS + "done\n"
    assert len(out.stdout) == len(expected)
    assert hashlib.sha256(out.stdout.encode()).digest() == (
        hashlib.sha256(expected.encode()).digest()
    )
