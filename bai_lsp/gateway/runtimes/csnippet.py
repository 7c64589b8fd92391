"""Query mode for c images: each snippet is compiled with gcc and run as a program.

A snippet with its own ``main`` is compiled as is; otherwise it becomes the body of a
``main`` with the usual headers included. Nothing persists between snippets (C has no
REPL); the program runs in the session folder with stdin served as in batch mode, so a
``scanf`` gets ``waiting-input``. A compile error ends the run with gcc's status and its
messages on stderr.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

from bai_lsp.gateway.runtimes.procs import ProcessTracker
from bai_lsp.gateway.runtimes.runs import Run
from bai_lsp.gateway.runtimes.steps import Step, run_command
from bai_lsp.wire.execute import RunStatus

HEADERS = (
    "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n"
    "#include <stdint.h>\n#include <stdbool.h>\n#include <unistd.h>\n"
)
HAS_MAIN = re.compile(r"\bmain\s*\(")


def as_program(code: str) -> str:
    if HAS_MAIN.search(code):
        return code
    return f'{HEADERS}\nint main(void) {{\n#line 1 "snippet.c"\n{code}\n;\nreturn 0;\n}}\n'


class CSnippetEngine:
    def __init__(
        self,
        workdir: Path,
        env: dict[str, str],
        state_dir: Path,
        tracker: ProcessTracker | None = None,
    ) -> None:
        self.tracker = tracker
        self.workdir = workdir
        self.env = dict(env)
        self.build_dir = state_dir / "c-snippets"
        self._counter = itertools.count(1)
        self.step: Step | None = None

    async def start(self) -> None:
        self.build_dir.mkdir(parents=True, exist_ok=True)

    def _set_step(self, step: Step) -> None:
        self.step = step

    async def run(self, run: Run, code: str) -> None:
        number = next(self._counter)
        source = self.build_dir / f"snippet{number}.c"
        binary = self.build_dir / f"snippet{number}"
        await asyncio.to_thread(source.write_text, as_program(code), "utf-8")
        try:
            status = await run_command(
                run,
                f"gcc -O1 -o '{binary}' '{source}' -lm",
                cwd=self.workdir,
                env=self.env,
                on_start=self._set_step,
                tracker=self.tracker,
            )
            if status == 0:
                status = await run_command(
                    run,
                    f"'{binary}'",
                    cwd=self.workdir,
                    env=self.env,
                    on_start=self._set_step,
                    line_buffered=True,
                    tracker=self.tracker,
                )
        finally:
            self.step = None
            for path in (source, binary):
                path.unlink(missing_ok=True)
        await run.control(RunStatus.FINISHED, status)

    async def interrupt(self) -> None:
        if self.step is not None:
            await self.step.interrupt()

    async def restart(self) -> None:
        if self.step is not None:
            await self.step.kill()

    async def shutdown(self) -> None:
        await self.restart()
