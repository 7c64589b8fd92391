"""``python -m bai_lsp.lsp.contract [--check] [--root DIR]``: write (or check) every
generated copy of the editor contract. ``--check`` changes nothing and exits 1 naming each
stale file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from bai_lsp.lsp.contract import render, schema

COMMAND = "python -m bai_lsp.lsp.contract"
SCHEMA = "docs/contract.schema.json"
PROTOCOL_DOC = "docs/protocol.md"
VSCODE_PACKAGE = "editor-clients/vscode/package.json"
VSCODE_CLIENT_SETTINGS = "editor-clients/vscode/client-settings.json"


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def targets(root: Path) -> dict[str, Callable[[str], str]]:
    """Path (relative to the repository) → new text, given the file's current text."""
    contract = schema.build()
    client = json.loads((root / VSCODE_CLIENT_SETTINGS).read_text())
    keys = render.vscode_keys(contract, client)

    def package(current: str) -> str:
        data = json.loads(current)
        data["contributes"]["configuration"] = render.vscode_configuration(contract, client)
        return _json(data)

    def protocol_doc(current: str) -> str:
        return render.replace_blocks(current, render.markdown_blocks(contract), PROTOCOL_DOC)

    return {
        SCHEMA: lambda _: _json(contract),
        "editor-clients/vscode/src/protocol.ts": lambda _: render.typescript(contract, keys),
        VSCODE_PACKAGE: package,
        PROTOCOL_DOC: protocol_doc,
        "editor-clients/neovim/lua/backendai/protocol.lua": lambda _: render.lua(contract),
        "editor-clients/emacs/backendai-protocol.el": lambda _: render.elisp(contract),
    }


def stale(root: Path) -> list[str]:
    """The generated files whose text differs from what the code says now."""
    out = []
    for path, make in targets(root).items():
        file = root / path
        current = file.read_text() if file.exists() else ""
        if make(current) != current:
            out.append(path)
    return out


def write(root: Path) -> list[str]:
    changed = []
    for path, make in targets(root).items():
        file = root / path
        current = file.read_text() if file.exists() else ""
        new = make(current)
        if new != current:
            file.write_text(new)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[3])
    args = parser.parse_args(argv)
    if args.check:
        old = stale(args.root)
        for path in old:
            print(f"{path} is stale: regenerate it with `{COMMAND}`", file=sys.stderr)
        return 1 if old else 0
    for path in write(args.root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
