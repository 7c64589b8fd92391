"""``bai-lsp`` (the language server): stdio by default, ``--tcp``/``--ws`` on loopback.

stdout is the LSP channel on stdio, so logging goes to stderr or ``--log-file`` only, and
pygls' own per-message INFO logging is silenced unless ``-vv``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bai_lsp import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bai-lsp",
        description="Run code on Backend.AI compute sessions from any LSP editor.",
        epilog="Sub-commands: 'bai-lsp run FILE' (run a file from a terminal), "
        "'bai-lsp gateway' (the embedded gateway alone).",
    )
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="use stdio (the default)")
    transport.add_argument("--tcp", action="store_true", help="listen on TCP")
    transport.add_argument("--ws", action="store_true", help="listen on WebSocket")
    parser.add_argument("--host", default="127.0.0.1", help="address for --tcp/--ws")
    parser.add_argument("--port", type=int, default=0, help="port for --tcp/--ws")
    parser.add_argument("--log-file", type=Path, help="log here instead of stderr")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v: debug, -vv: also pygls"
    )
    parser.add_argument(
        "--state-dir", type=Path, help="where the shared embedded gateway is recorded"
    )
    parser.add_argument("--version", action="version", version=f"bai-lsp {__version__}")
    return parser


def setup_logging(verbose: int, log_file: Path | None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("pygls").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    logging.getLogger("asyncio").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.log_file)
    from bai_lsp.lsp.handlers import create_server

    server = create_server(state_dir=args.state_dir)
    if args.tcp:
        if args.port == 0:
            logging.getLogger(__name__).warning("--tcp with port 0: the OS picks the port")
        server.start_tcp(args.host, args.port)
    elif args.ws:
        server.start_ws(args.host, args.port)
    else:
        from bai_lsp.lsp.stdin import serve_stdio
        from bai_lsp.lsp.stdout import make_stdout

        serve_stdio(server, sys.stdin.buffer, make_stdout(sys.stdout.buffer))  # type: ignore[arg-type]
    return 0
