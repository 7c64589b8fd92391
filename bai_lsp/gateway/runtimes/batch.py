"""Batch mode (§4.4): clean, build and exec steps as shell commands in the session folder.

Each step reports its own control record (``clean-finished``, ``build-finished``,
``finished``) with its exit status; an empty step is skipped but still reported (exit 0); a
failed build skips exec and finishes with 127; an interrupt ends the whole run. ``"*"``
asks for the language heuristic (:func:`heuristic`), which an image config entry can
replace with its own commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from bai_lsp.gateway.runtimes.base import ExecutionRequestError
from bai_lsp.gateway.runtimes.images import ImageSpec
from bai_lsp.gateway.runtimes.procs import ProcessTracker
from bai_lsp.gateway.runtimes.runs import Run
from bai_lsp.gateway.runtimes.steps import Step, run_command
from bai_lsp.wire.execute import RunStatus

#: Exit status of a run whose build failed or whose exec heuristic found nothing to run.
NOT_RUN = 127
#: Exit status of a run interrupted between steps (as if killed by SIGINT).
INTERRUPTED = 130


@attrs.frozen
class BatchSteps:
    clean: str
    build: str
    exec: str

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> BatchSteps:
        """Validate the request's ``options``; a wrong type is the client's error."""
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ExecutionRequestError("batch mode needs options {clean, build, exec}")
        values: dict[str, str] = {}
        for key in ("clean", "build", "exec"):
            value = options.get(key)
            if value is not None and not isinstance(value, str):
                raise ExecutionRequestError(
                    f"batch option {key!r} must be a shell command string or null, "
                    f"not {type(value).__name__}"
                )
            values[key] = (value or "").strip()
        return cls(values["clean"], values["build"], values["exec"])


def heuristic(step: str, image: ImageSpec, workdir: Path) -> str | None:
    """The command ``"*"`` stands for; ``""`` = nothing to do, ``None`` = cannot guess."""
    configured = {"build": image.build, "exec": image.exec}.get(step)
    if configured is not None:
        return configured
    language = image.language
    has = lambda name: (workdir / name).exists()  # noqa: E731
    if step == "clean":
        return ""
    if step == "build":
        if has("Makefile") or has("makefile"):
            return "make"
        if language == "c":
            return "gcc -Wall -O2 -o ./main *.c -lm"
        return ""
    if language == "python":
        return "python main.py" if has("main.py") else None
    if language == "c":
        return "./main" if has("main") else None
    if language == "node":
        return "node main.js" if has("main.js") else None
    if language == "bash":
        return "bash main.sh" if has("main.sh") else None
    if has("Makefile") or has("makefile"):
        return "make run"
    if has("main.sh"):
        return "bash main.sh"
    return None


_HEURISTIC_FILES = {
    "python": "main.py",
    "c": "main (built from *.c)",
    "node": "main.js",
    "bash": "main.sh",
    "generic": "main.sh or a Makefile",
}


class BatchEngine:
    def __init__(
        self,
        image: ImageSpec,
        workdir: Path,
        env: dict[str, str],
        tracker: ProcessTracker | None = None,
    ) -> None:
        self.image = image
        self.workdir = workdir
        self.env = dict(env)
        self.tracker = tracker
        self.step: Step | None = None
        self._running = False
        self._interrupted = False

    def _set_step(self, step: Step) -> None:
        self.step = step

    async def _run_step(self, run: Run, command: str, *, line_buffered: bool = False) -> int:
        try:
            return await run_command(
                run,
                command,
                cwd=self.workdir,
                env=self.env,
                on_start=self._set_step,
                line_buffered=line_buffered,
                tracker=self.tracker,
            )
        finally:
            self.step = None

    async def run(self, run: Run, steps: BatchSteps) -> None:
        self._running = True
        self._interrupted = False
        try:
            await self._run_steps(run, steps)
        finally:
            self._running = False

    async def _stop_if_interrupted(self, run: Run, code: int) -> bool:
        """An interrupt ends the whole batch run, not just the step it hit."""
        if not self._interrupted:
            return False
        await run.control(RunStatus.FINISHED, code if code else INTERRUPTED)
        return True

    async def _run_steps(self, run: Run, steps: BatchSteps) -> None:
        clean = self._resolve("clean", steps.clean)
        code = await self._run_step(run, clean) if clean else 0
        await run.control(RunStatus.CLEAN_FINISHED, code)
        if await self._stop_if_interrupted(run, code):
            return

        build = self._resolve("build", steps.build)
        code = await self._run_step(run, build) if build else 0
        await run.control(RunStatus.BUILD_FINISHED, code)
        if await self._stop_if_interrupted(run, code):
            return
        if code != 0:
            await run.stderr(f"[bai-lsp: the build step failed (exit {code}); exec skipped]\n")
            await run.control(RunStatus.FINISHED, NOT_RUN)
            return

        command = self._resolve("exec", steps.exec)
        if command is None:
            wanted = _HEURISTIC_FILES.get(self.image.language, "main.*")
            await run.stderr(
                f"[bai-lsp: exec '*' found nothing to run for image {self.image.name!r}: "
                f"expected {wanted} in the session folder]\n"
            )
            await run.control(RunStatus.FINISHED, NOT_RUN)
            return
        code = await self._run_step(run, command, line_buffered=True) if command else 0
        await run.control(RunStatus.FINISHED, code)

    def _resolve(self, step: str, command: str) -> str | None:
        if command == "*":
            return heuristic(step, self.image, self.workdir)
        return command

    async def interrupt(self) -> None:
        if self._running:
            self._interrupted = True
        if self.step is not None:
            await self.step.interrupt()

    async def kill(self) -> None:
        if self.step is not None:
            await self.step.kill()
