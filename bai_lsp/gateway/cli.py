"""``bai-lsp gateway``: run the embedded Backend.AI-compatible manager (docs/gateway.md).

Logs go to stderr only; secrets never do, except a freshly generated keypair, printed once
so that the person who started the gateway can use it. ``--ready-file`` lets a parent
process (the language server, the test suite) learn the port, ``--parent-pid`` ties the
gateway's life (and its kernels') to that parent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from bai_lsp.gateway.config import (
    DEFAULT_USER,
    ConfigError,
    GatewayConfig,
    Keypair,
    apply_config_section,
    default_data_dir,
    is_loopback_host,
    random_keypair,
    read_config_file,
)
from bai_lsp.gateway.runtimes import ImageConfigError, ImageTable

log = logging.getLogger("bai_lsp.gateway")

PARENT_POLL_SECONDS = 1.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bai-lsp gateway",
        description="Serve the Backend.AI manager API on this machine, running code in local "
        "Jupyter kernels and processes.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=8090, help="port (0 picks a free one)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"sessions and vfolders (default {default_data_dir()})",
    )
    parser.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help='write {"endpoint": ..., "pid": ...} here once listening',
    )
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="exit (stopping all sessions) when it exits"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        help="terminate sessions idle this many seconds (default 0 = never)",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML/JSON file with [images] and [gateway]"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow listening on a non-loopback address (anyone who can reach it and holds "
        "the keypair can run code as you)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--api-version",
        choices=("v7", "v9"),
        default="v7",
        help="API version advertised on GET / (v7: 23.09 manager, v9: newest manager); "
        "requests are answered in the dialect of the version they carry",
    )
    parser.add_argument(
        "--no-resumable-runs",
        action="store_true",
        help="turn off the resumable-runs extension (numbered answers, ack, streamed runs "
        "that survive a dropped socket): behave exactly as a Backend.AI manager",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def make_config(args: argparse.Namespace, environ: dict[str, str]) -> tuple[GatewayConfig, bool]:
    """The config and whether its keypair was generated (and so must be shown once)."""
    if args.port < 0 or args.port > 65535:
        raise ConfigError(f"--port {args.port} is not a port number (0 to 65535)")
    if not is_loopback_host(args.host) and not args.allow_remote:
        raise ConfigError(
            f"--host {args.host} is not a loopback address; the gateway runs code as you, so "
            "it only listens on 127.0.0.1/localhost unless --allow-remote is given"
        )
    data_dir = (args.data_dir or default_data_dir()).expanduser().resolve()
    config = GatewayConfig(host=args.host, port=args.port, data_dir=data_dir)
    config.allow_remote = bool(args.allow_remote)
    config.api_version = getattr(args, "api_version", "v7")
    access = environ.get("BACKEND_ACCESS_KEY", "").strip()
    secret = environ.get("BACKEND_SECRET_KEY", "").strip()
    generated = False
    if access and secret:
        config.keypairs.append(Keypair(access, secret))
    elif access or secret:
        raise ConfigError("set both BACKEND_ACCESS_KEY and BACKEND_SECRET_KEY, or neither")
    else:
        config.keypairs.append(random_keypair())
        generated = True
    config.login_user = environ.get("BACKEND_GATEWAY_USER", "").strip() or DEFAULT_USER
    config.login_password = environ.get("BACKEND_GATEWAY_PASSWORD") or None
    try:
        config.images = ImageTable.for_data_dir(data_dir, args.config)
    except ImageConfigError as exc:
        raise ConfigError(str(exc)) from exc
    if args.config is not None:
        apply_config_section(config, read_config_file(args.config), str(args.config))
    if args.idle_timeout is not None:
        if args.idle_timeout < 0:
            raise ConfigError("--idle-timeout must be ≥ 0 seconds (0 = never)")
        config.idle_timeout = args.idle_timeout
    if getattr(args, "no_resumable_runs", False):
        config.resumable_runs = False
    if args.parent_pid is not None and args.parent_pid <= 0:
        raise ConfigError(f"--parent-pid {args.parent_pid} is not a process id")
    return config, generated


def write_ready_file(path: Path, endpoint: str) -> None:
    """Atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ready-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"endpoint": endpoint, "pid": os.getpid()}, handle)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def endpoint_for(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def parent_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Request lines without their query string: storage transfer URLs carry a token there
    (a credential for that file), and logs must hold no credential."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.3fs',
            request.remote,
            request.method,
            request.path,
            response.status,
            time,
        )


async def serve(
    config: GatewayConfig,
    *,
    ready_file: Path | None,
    parent_pid: int | None,
    show_keypair: bool,
    access_log: bool,
) -> int:
    from bai_lsp.gateway.app import build_app

    config.data_dir.mkdir(parents=True, exist_ok=True)
    from bai_lsp.gateway.guard import start_guard

    guard = start_guard()  # kills our kernels if we die, even by SIGKILL (guard.py)
    app = build_app(config)
    runner = web.AppRunner(
        app,
        access_log=log if access_log else None,
        access_log_class=PathOnlyAccessLogger,
        handle_signals=False,
        shutdown_timeout=5.0,
    )
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        print(
            f"bai-lsp gateway: cannot listen on {config.host}:{config.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    port = sockets[0].getsockname()[1] if sockets else config.port
    endpoint = endpoint_for(config.host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    print(f"bai-lsp gateway listening on {endpoint} (data in {config.data_dir})", file=sys.stderr)
    if show_keypair:
        pair = config.keypairs[0]
        print(
            "Generated keypair for this run (set BACKEND_ACCESS_KEY/BACKEND_SECRET_KEY to "
            f"choose your own):\n  BACKEND_ENDPOINT={endpoint}\n"
            f"  BACKEND_ACCESS_KEY={pair.access_key}\n  BACKEND_SECRET_KEY={pair.secret_key}",
            file=sys.stderr,
        )
    sys.stderr.flush()
    if ready_file is not None:
        write_ready_file(ready_file, endpoint)
    watcher = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        log.info("shutting down: stopping every session")
        await runner.cleanup()
        if ready_file is not None:
            await asyncio.to_thread(_remove, ready_file)
        if guard is not None and guard.stdin is not None:
            guard.stdin.close()  # EOF: the guard sweeps what is left and exits
    return 0


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


async def _watch_parent(pid: int | None, stop: asyncio.Event) -> None:
    if pid is None:
        return
    while parent_alive(pid):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARENT_POLL_SECONDS)
            return
    log.info("parent process %d is gone", pid)
    stop.set()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config, generated = make_config(args, dict(os.environ))
    except ConfigError as exc:
        print(f"bai-lsp gateway: {exc}", file=sys.stderr)
        return 2
    # The keys live in the config now; children get a clean environment anyway (procs.py),
    # but nothing in this process needs them in os.environ either.
    for name in ("BACKEND_SECRET_KEY", "BACKEND_GATEWAY_PASSWORD"):
        os.environ.pop(name, None)
    if args.parent_pid is not None and not parent_alive(args.parent_pid):
        print(f"bai-lsp gateway: parent process {args.parent_pid} is not running", file=sys.stderr)
        return 2
    return asyncio.run(
        serve(
            config,
            ready_file=args.ready_file,
            parent_pid=args.parent_pid,
            show_keypair=generated,
            access_log=args.access_log,
        )
    )
