"""The execute API's request and result shapes (REST ``POST /session/{ref}`` and the stream).

Console records travel as ``[type, data]`` pairs, media as ``["media", [mime, data]]``;
that positional form is Backend.AI's, so these types convert by hand rather than through a
camelCase converter.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

ExecMode = Literal["query", "continue", "input", "batch", "complete"]
EXEC_MODES: tuple[str, ...] = ("query", "continue", "input", "batch", "complete")


class RunStatus:
    """Statuses of one poll of a run (§4.3), plus the stream-only ones (§5.1)."""

    CONTINUED = "continued"
    WAITING_INPUT = "waiting-input"
    CLEAN_FINISHED = "clean-finished"
    BUILD_FINISHED = "build-finished"
    FINISHED = "finished"
    EXEC_TIMEOUT = "exec-timeout"
    ERROR = "error"
    SERVER_RESTARTING = "server-restarting"

    #: A poll with one of these ends the run.
    TERMINAL: frozenset[str] = frozenset({FINISHED, EXEC_TIMEOUT, ERROR, SERVER_RESTARTING})


@attrs.frozen
class ConsoleRecord:
    """One console item. ``text`` for stdout/stderr/html/log; ``mime`` + ``data`` for media."""

    type: str
    text: str = ""
    mime: str | None = None
    data: str | None = None

    @classmethod
    def stdout(cls, text: str) -> ConsoleRecord:
        return cls("stdout", text)

    @classmethod
    def stderr(cls, text: str) -> ConsoleRecord:
        return cls("stderr", text)

    @classmethod
    def media(cls, mime: str, data: str) -> ConsoleRecord:
        return cls("media", mime=mime, data=data)

    def to_json(self) -> list[Any]:
        if self.type == "media":
            return ["media", [self.mime, self.data]]
        return [self.type, self.text]

    @classmethod
    def from_json(cls, item: Any) -> ConsoleRecord:
        if not isinstance(item, list | tuple) or len(item) != 2 or not isinstance(item[0], str):
            raise ValueError(f"not a console record: {item!r}")
        kind, payload = item
        if kind == "media":
            if (
                not isinstance(payload, list | tuple)
                or len(payload) != 2
                or not all(isinstance(p, str) for p in payload)
            ):
                raise ValueError(f"not a media record: {item!r}")
            return cls.media(payload[0], payload[1])
        return cls(kind, payload if isinstance(payload, str) else str(payload))


def aggregate(records: list[ConsoleRecord]) -> list[ConsoleRecord]:
    """Merge consecutive stdout (and stderr) records, keeping the order of kinds (§4.6)."""
    merged: list[ConsoleRecord] = []
    for record in records:
        last = merged[-1] if merged else None
        if last is not None and record.type in ("stdout", "stderr") and last.type == record.type:
            merged[-1] = ConsoleRecord(record.type, last.text + record.text)
        else:
            merged.append(record)
    return merged


@attrs.define
class ExecutionResult:
    """One poll's answer (REST ``result``) or one stream frame (which has no ``runId``
    unless the run was started resumable on our gateway)."""

    status: str
    console: list[ConsoleRecord] = attrs.field(factory=list)
    run_id: str | None = None
    exit_code: int | None = None
    options: dict[str, Any] | None = None
    files: list[Any] = attrs.field(factory=list)
    msg: str | None = None
    #: The answer's number within its run (the gateway's resumable-runs extension,
    #: docs/gateway.md); a real manager never sends it.
    seq: int | None = None
    #: Characters of output the gateway could not keep for this client (journal bound).
    lost: int | None = None

    @property
    def is_password_prompt(self) -> bool:
        return bool((self.options or {}).get("is_password"))

    def to_json(self, *, with_run_id: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status,
            "console": [r.to_json() for r in self.console],
            "exitCode": self.exit_code,
            "options": self.options,
            "files": list(self.files),
        }
        if with_run_id:
            body["runId"] = self.run_id
        if self.msg is not None:
            body["msg"] = self.msg
        if self.seq is not None:
            body["seq"] = self.seq
        if self.lost is not None:
            body["lost"] = self.lost
        return body

    @classmethod
    def from_json(cls, body: Any) -> ExecutionResult:
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise ValueError(f"not an execution result: {body!r}")
        console = body.get("console") or []
        if not isinstance(console, list):
            raise ValueError(f"console is not a list: {console!r}")
        exit_code = body.get("exitCode")
        options = body.get("options")
        return cls(
            status=body["status"],
            console=[ConsoleRecord.from_json(item) for item in console],
            run_id=body.get("runId", body.get("run_id")),
            exit_code=exit_code if isinstance(exit_code, int) else None,
            options=options if isinstance(options, dict) else None,
            files=list(body.get("files") or []),
            msg=body.get("msg") if isinstance(body.get("msg"), str) else None,
            seq=_count(body.get("seq")),
            lost=_count(body.get("lost")),
        )


def _count(value: Any) -> int | None:
    """A non-negative int from the wire, else ``None`` (a bool is not a count)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


@attrs.frozen
class BatchOptions:
    """The three batch steps; ``None`` or ``""`` skips a step, ``"*"`` asks for the heuristic."""

    clean: str | None = None
    build: str | None = None
    exec: str | None = None
    build_log: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "build": self.build,
            "buildLog": self.build_log,
            "exec": self.exec,
        }
