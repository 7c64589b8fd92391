"""``bai-lsp run FILE``: run a file from a terminal through the same engine as the editor.

Output streams to this terminal (stdout/stderr as the program wrote them), ``input()``
and ``getpass()`` are answered from this terminal, Ctrl-C interrupts the run (twice: gives
up), and the exit code is the run's. With no endpoint configured a private embedded
gateway is started for the run and stopped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import getpass
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from bai_lsp.domain.compose import compose
from bai_lsp.domain.documents import language_for_path
from bai_lsp.domain.engine import SourceDocument
from bai_lsp.domain.errors import DomainError
from bai_lsp.domain.events import (
    InputRequest,
    OutputBatch,
    RunFinished,
    RunStarted,
    SessionStatus,
)
from bai_lsp.lsp.cli import setup_logging


class _NoProgress:
    def report(self, message: str, percentage: int | None = None) -> None:
        return None

    async def wait_cancelled(self) -> None:
        await asyncio.Event().wait()


class TerminalFrontend:
    """The domain's ``Frontend`` on a terminal."""

    def __init__(self, verbose: bool) -> None:
        self._verbose = verbose
        self._media_dir: Path | None = None

    def run_started(self, event: RunStarted) -> None:
        if self._verbose:
            self._note(f"run {event.run_id} started on session {event.session_name}")

    def output(self, batch: OutputBatch) -> None:
        for record in batch.records:
            if record.type == "stdout":
                sys.stdout.write(record.text or "")
            elif record.type == "stderr":
                sys.stdout.flush()
                sys.stderr.write(record.text or "")
                sys.stderr.flush()
            else:
                sys.stdout.write(self._save_media(record.mime or "text/html", record.data or ""))
        sys.stdout.flush()

    def _save_media(self, mime: str, data: str) -> str:
        if self._media_dir is None:
            self._media_dir = Path(tempfile.mkdtemp(prefix="bai-lsp-media-"))
        suffix = {"image/png": ".png", "image/jpeg": ".jpg", "image/svg+xml": ".svg"}.get(
            mime, ".html"
        )
        path = self._media_dir / f"output-{len(list(self._media_dir.iterdir())) + 1}{suffix}"
        if suffix in (".png", ".jpg"):
            path.write_bytes(base64.b64decode(data))
        else:
            path.write_text(data)
        return f"[{mime} saved to {path}]\n"

    def run_finished(self, event: RunFinished) -> None:
        if event.output_file:
            self._note(f"the full output is in {event.output_file}")
        if event.status != "finished":
            self._note(f"run {event.status}" + (f": {event.message}" if event.message else ""))

    def session_status(self, event: SessionStatus) -> None:
        if event.status == "starting" and self._verbose:
            self._note(f"starting session {event.session_name} ({event.image})")
        elif event.status in ("error", "terminated") and event.message:
            self._note(event.message)

    @property
    def answers_input(self) -> bool:
        return True

    @property
    def echoes_input(self) -> bool:
        return False  # the user typed it on this very terminal

    async def ask_input(self, request: InputRequest) -> str | None:
        def read() -> str | None:
            try:
                if request.password:
                    return getpass.getpass(prompt="")
                line = sys.stdin.readline()
                return line.rstrip("\n") if line else None
            except (EOFError, KeyboardInterrupt):
                return None

        return await asyncio.to_thread(read)

    def show_message(self, level: str, text: str) -> None:
        self._note(text)

    @contextlib.asynccontextmanager
    async def progress(self, title: str) -> AsyncIterator[_NoProgress]:
        if self._verbose:
            self._note(title)
        yield _NoProgress()

    @staticmethod
    def _note(text: str) -> None:
        sys.stdout.flush()
        sys.stderr.write(f"[bai-lsp] {text}\n")
        sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bai-lsp run", description="Run a file on a Backend.AI compute session."
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--mode", choices=("query", "batch"), default="query")
    parser.add_argument("--image", help="image to run on (default: by the file's language)")
    parser.add_argument("--keep", action="store_true", help="keep the session afterwards")
    parser.add_argument("--log-file", type=Path)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    return parser


async def run_file(args: argparse.Namespace, path: Path, text: str) -> int:
    cwd = Path.cwd().resolve()
    folder = cwd if path.is_relative_to(cwd) else path.parent
    language = language_for_path(str(path))
    frontend = TerminalFrontend(verbose=bool(args.verbose))
    engine = compose(frontend).engine
    options: dict[str, object] = {"onExit": "keep" if args.keep else "destroy"}
    if args.image:
        options["images"] = {language: args.image}
    engine.set_initialization_options(options)
    doc = SourceDocument(
        uri=path.as_uri(),
        text=text,
        language_id=language,
        path=str(path),
        folder_uri=folder.as_uri(),
        folder_path=str(folder),
        encoding="utf-32",
    )
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(engine.run_file(doc, args.mode))
    presses = 0
    background: set[asyncio.Future[None]] = set()

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            frontend.show_message("info", "interrupting (press Ctrl-C again to give up)")
            pending = asyncio.ensure_future(engine.interrupt(folder.as_uri(), doc.uri))
            background.add(pending)
            pending.add_done_callback(background.discard)
        else:
            task.cancel()

    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        result = await task
        return result.exit_code
    except DomainError as exc:
        sys.stderr.write(f"bai-lsp run: {exc.message}\n")
        return 1
    except asyncio.CancelledError:
        sys.stderr.write("bai-lsp run: gave up\n")
        return 130
    finally:
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)
        await engine.shutdown(detach=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(max(0, args.verbose - 1), args.log_file)
    if not args.verbose and not args.log_file:
        import logging

        logging.getLogger().setLevel(logging.WARNING)
    path: Path = args.file.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(f"bai-lsp run: cannot read {args.file}: {exc}\n")
        return 2
    code = asyncio.run(run_file(args, path, text))
    sys.stdout.flush()
    return max(0, min(code, 255)) if os.name == "posix" else code
