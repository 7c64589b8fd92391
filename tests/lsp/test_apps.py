"""A web server started inside the session, listed and opened from the editor."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from bai_lsp.domain.settings import SettingsError, parse_settings
from lsp.harness import PRIVATE, needs_backend, open_doc, start_server, uri

pytestmark = needs_backend

SERVE = """\
import functools, http.server, os, threading
os.makedirs('site', exist_ok=True)
with open('site/index.html', 'w') as f:
    f.write('<h1>hello from the session</h1>')
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory='site')
httpd = http.server.ThreadingHTTPServer(('127.0.0.1', {port}), handler)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
print('serving')
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=20) as answer:  # noqa: S310 - loopback URL
        return answer.read().decode()


async def test_open_a_web_server_started_in_the_session(tmp_path: Path, state_dir: Path) -> None:
    port = free_port()
    settings = {**PRIVATE, "apps": [{"name": "web", "port": port}]}
    async with start_server([tmp_path], state_dir=state_dir, init_options=settings) as h:
        doc = open_doc(h, tmp_path / "serve.py", SERVE.format(port=port))
        run = await h.command("backendai.runFile", {"uri": doc})
        assert run["status"] == "finished" and h.output_text(run["runId"]) == "serving\n"

        listed = await h.command("backendai.session.apps", {"uri": uri(tmp_path)})
        assert {"name": "web", "protocol": "http", "ports": [port]} in listed["apps"]

        opened = await h.command("backendai.session.openApp", {"uri": doc, "app": "web"})
        assert opened["url"].startswith("http://127.0.0.1:")
        assert opened["localPort"] != port  # a forward, not the session's own port
        page = await asyncio.to_thread(fetch, opened["url"])
        assert "<h1>hello from the session</h1>" in page
        # several connections at once, and the same URL when asked again
        pages = await asyncio.gather(
            *(asyncio.to_thread(fetch, opened["url"] + "index.html") for _ in range(3))
        )
        assert all("hello from the session" in p for p in pages)
        again = await h.command("backendai.session.openApp", {"uri": doc, "app": "web"})
        assert again["url"] == opened["url"]

        with pytest.raises(JsonRpcException) as caught:
            await h.command("backendai.session.openApp", {"uri": doc, "app": "tensorboard"})
        assert caught.value.code == -32061
        assert "'tensorboard'" in caught.value.message and "web" in caught.value.message


async def test_an_app_nobody_listens_on_yet(tmp_path: Path, state_dir: Path) -> None:
    port = free_port()
    settings = {**PRIVATE, "apps": [{"name": "later", "port": port}]}
    async with start_server([tmp_path], state_dir=state_dir, init_options=settings) as h:
        opened = await h.command(
            "backendai.session.openApp", {"uri": uri(tmp_path), "app": "later"}
        )
        with pytest.raises(OSError):  # the connection is closed: nothing listens yet
            await asyncio.to_thread(fetch, opened["url"])
        doc = open_doc(h, tmp_path / "serve.py", SERVE.format(port=port))
        await h.command("backendai.runFile", {"uri": doc})
        page = await asyncio.to_thread(fetch, opened["url"])  # the same forward now works
        assert "hello from the session" in page


async def test_a_bad_apps_setting_is_reported(tmp_path: Path, state_dir: Path) -> None:
    settings = {**PRIVATE, "apps": [{"name": "web", "port": 80}]}
    async with start_server([tmp_path], state_dir=state_dir, init_options=settings) as h:
        await h.wait_for(lambda: h.messages())
        assert any(
            "backendai.apps" in m and "1024-65535" in m and "80" in m for m in h.messages()
        ), h.messages()


@pytest.mark.parametrize(
    ("apps", "words"),
    [
        ({"name": "web"}, "expected a list"),
        (["web"], "expected objects with name and port"),
        ([{"port": 8000}], "an app needs a name"),
        ([{"name": "web", "port": "8000"}], "app 'web': port must be an integer 1024-65535"),
        ([{"name": "web", "port": 8000, "protocol": "udp"}], 'protocol must be "http" or "tcp"'),
    ],
)
def test_the_apps_setting_names_what_is_wrong(apps: object, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings([{"apps": apps}])
    assert caught.value.problems[0].startswith("backendai.apps: ")
    assert words in caught.value.problems[0]


def test_declared_apps_are_parsed() -> None:
    settings = parse_settings(
        [{"apps": [{"name": "web", "port": 8000}, {"name": "db", "port": 5432, "protocol": "tcp"}]}]
    )
    assert [(a.name, a.port, a.protocol) for a in settings.apps] == [
        ("web", 8000, "http"),
        ("db", 5432, "tcp"),
    ]
