"""DNS rebinding and cross-origin tricks: a correctly signed request addressed to a
non-local Host, or coming from a non-local Origin, is refused (403) by the loopback gateway.

Requests are written on a raw socket so that no HTTP client normalises the trick away.
"""

from __future__ import annotations

import asyncio

import pytest
from support.gateway import GatewayInfo
from support.signed import signed_headers
from yarl import URL

PATH = "/session/sec-nonexistent"

#: Host headers that must not reach a handler (each signed for exactly that Host).
HOST_TRICKS = [
    "evil.example",
    "evil.example:80",
    "127.0.0.1.evil.example",
    "localhost.evil.example",
    "localhost.evil.example:8080",
    "127.0.0.1@evil.example",
    "evil.example#127.0.0.1",
    "evil.example/127.0.0.1",
    "evil.example?127.0.0.1",
    "127.0.0.1:80:evil.example",
    "127.0.0.1,evil.example",
    "127.0.0.1 evil.example",
    "evil.example\\@127.0.0.1",
    "[::ffff:7f00:1]:80",  # an IPv4-mapped address is not a loopback address to ipaddress
    "10.0.0.1",
    "192.168.1.1",
    "0.0.0.0",  # noqa: S104 - a Host header to refuse, not a bind address
    "169.254.169.254",  # cloud metadata address
    "[fe80::1]",
    "localhos",
    "localhost.localdomain.evil.example",
    "LOCALHOST.evil.example",
    "xn--lcalhost-9za",
    "",
    "%31%32%37.0.0.1",
    "127.0.0.1%2eevil.example",
]

#: Origins that must be refused even with a local Host and a valid signature.
ORIGIN_TRICKS = [
    "http://evil.example",
    "https://evil.example",
    "http://127.0.0.1.evil.example",
    "http://localhost.evil.example:80",
    "http://127.0.0.1@evil.example",
    "http://evil.example:127",
    "https://attacker.example.com",
    "http://10.0.0.1:8080",
    "http://169.254.169.254",
    "file://evil.example",
    "chrome-extension://abcdefghijklmnop",
    "http://[fe80::1]",
]


async def _raw_get(endpoint: str, headers: dict[str, str]) -> int:
    url = URL(endpoint)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        lines = [f"GET {PATH} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\nConnection: close\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()


def _signed(gateway: GatewayInfo, host: str) -> dict[str, str]:
    url = URL(gateway.endpoint).with_path(PATH)
    headers = signed_headers(
        method="GET",
        url=url,
        access_key=gateway.access_key,
        secret_key=gateway.secret_key,
        content_type="application/json",
        host=host,
    )
    return {"Host": host, "Content-Type": "application/json", **headers}


async def test_host_and_origin_tricks_are_refused(
    gateway: GatewayInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    # The control: the real Host, signed, reaches the handler (404: no such session).
    assert await _raw_get(gateway.endpoint, _signed(gateway, gateway.host)) == 404
    passed: list[str] = []
    for host in HOST_TRICKS:
        status = await _raw_get(gateway.endpoint, _signed(gateway, host))
        if status not in (400, 403):
            passed.append(f"Host {host!r} -> {status}")
    for origin in ORIGIN_TRICKS:
        headers = {**_signed(gateway, gateway.host), "Origin": origin}
        status = await _raw_get(gateway.endpoint, headers)
        if status != 403:
            passed.append(f"Origin {origin!r} -> {status}")
    # Two Host headers: the gateway must not pick the local one while a proxy used the other.
    doubled = _signed(gateway, gateway.host)
    reader_status = await _raw_get(
        gateway.endpoint, {**doubled, "Host": f"{gateway.host}\r\nHost: evil.example"}
    )
    if reader_status not in (400, 403):
        passed.append(f"two Host headers -> {reader_status}")
    total = len(HOST_TRICKS) + len(ORIGIN_TRICKS) + 1
    with capsys.disabled():
        print(
            f"\n[security] Host/Origin tricks: {total} ({len(HOST_TRICKS)} Host, "
            f"{len(ORIGIN_TRICKS)} Origin, 1 doubled Host), {len(passed)} accepted"
        )
    assert passed == [], "\n".join(passed)
    assert total >= 20
