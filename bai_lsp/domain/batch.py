"""Batch mode's file selection and commands: what travels to the session, what runs there.

Paths are relative to the workspace folder and POSIX-style, because that is where they
land under the session's working directory. Unsaved editor text wins over the file on
disk for the file being run.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path, PurePosixPath

import attrs

from bai_lsp.domain.settings import DEFAULT_BATCH, DEFAULT_EXCLUDE, BatchSettings
from bai_lsp.wire.execute import BatchOptions

#: Directories never walked into, whatever the globs say (they are huge and never needed).
PRUNED_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox"})


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """``**`` spans directories, ``*`` and ``?`` stay inside one path segment."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def _matches(path: str, patterns: list[re.Pattern[str]]) -> bool:
    return any(p.match(path) for p in patterns)


@attrs.frozen
class UploadPlan:
    files: list[tuple[str, bytes]]
    skipped: list[str]
    """One sentence per file left out (too large, too many)."""


def select_files(
    folder: Path,
    run_file: str,
    run_text: str,
    settings: BatchSettings,
) -> UploadPlan:
    """Read the workspace files to upload (blocking: call it in a thread)."""
    include = [glob_to_regex(g) for g in (settings.include or ["**/*"])]
    exclude = [glob_to_regex(g) for g in (settings.exclude or list(DEFAULT_EXCLUDE))]
    files: list[tuple[str, bytes]] = [(run_file, run_text.encode())]
    skipped: list[str] = []
    if len(files[0][1]) > settings.max_file_bytes:
        skipped.append(
            f"{run_file} is {len(files[0][1])} bytes, more than batch.maxFileBytes "
            f"({settings.max_file_bytes}); it was uploaded anyway because it is the file to run"
        )
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in PRUNED_DIRS)
        for name in sorted(names):
            full = Path(root) / name
            rel = full.relative_to(folder).as_posix()
            if rel == run_file or not _matches(rel, include) or _matches(rel, exclude):
                continue
            try:
                if not full.is_file() or full.is_symlink():
                    continue
                size = full.stat().st_size
                if size > settings.max_file_bytes:
                    skipped.append(
                        f"{rel} ({size} bytes) is larger than batch.maxFileBytes "
                        f"({settings.max_file_bytes})"
                    )
                    continue
                if len(files) >= settings.max_files:
                    skipped.append(f"{rel}: more than batch.maxFiles ({settings.max_files}) files")
                    continue
                files.append((rel, full.read_bytes()))
            except OSError as exc:
                skipped.append(f"{rel} could not be read ({exc.strerror})")
    return UploadPlan(files, skipped)


def batch_options(
    language_id: str, run_file: str, uploaded: list[str], settings: BatchSettings
) -> BatchOptions:
    """Build and exec commands for ``run_file``: the settings' or the language's defaults."""
    default_build, default_exec = DEFAULT_BATCH.get(language_id, (None, "./{file}"))
    build = settings.build if settings.build is not None else default_build
    exec_ = settings.exec if settings.exec is not None else default_exec
    suffix = PurePosixPath(run_file).suffix
    parent = PurePosixPath(run_file).parent
    siblings = [
        f
        for f in uploaded
        if PurePosixPath(f).suffix == suffix and PurePosixPath(f).parent == parent
    ]
    if run_file not in siblings:
        siblings.insert(0, run_file)
    values = {
        "file": shlex.quote(run_file),
        "files": " ".join(shlex.quote(f) for f in siblings),
        "stem": shlex.quote(PurePosixPath(run_file).with_suffix("").as_posix()),
    }

    def fill(command: str | None) -> str | None:
        if not command:
            return None
        for key, value in values.items():
            command = command.replace("{" + key + "}", value)
        return command

    return BatchOptions(clean=None, build=fill(build), exec=fill(exec_))
