"""One version number for the whole release, and one protocol version for every editor.

``python scripts/check_versions.py [--root DIR] [--changelog]`` prints the version and exits
1, naming each file that disagrees, when pyproject.toml, bai_lsp/__init__.py, the VS Code
extension's package.json, the Neovim plugin (lua/backendai/version.lua) or backendai.el
(its ``Version:`` header and ``backendai-version``) do not carry the same version, or when
an editor's protocol version differs from the server's. ``--changelog`` also requires a
``## [VERSION]`` section in CHANGELOG.md. scripts/release.sh runs it before building.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path


def _match(path: Path, pattern: str) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(pattern, text, re.MULTILINE)
    return found[1] if found else None


def versions(root: Path) -> dict[str, str | None]:
    """Where the release version is written → the version written there."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    package = json.loads((root / "editor-clients/vscode/package.json").read_text("utf-8"))
    el = root / "editor-clients/emacs/backendai.el"
    return {
        "pyproject.toml": pyproject["project"].get("version"),
        "bai_lsp/__init__.py": _match(root / "bai_lsp/__init__.py", r'^__version__ = "([^"]+)"'),
        "editor-clients/vscode/package.json": package.get("version"),
        "editor-clients/neovim/lua/backendai/version.lua": _match(
            root / "editor-clients/neovim/lua/backendai/version.lua", r"version = '([^']+)'"
        ),
        "editor-clients/emacs/backendai.el (Version: header)": _match(el, r"^;; Version: (\S+)"),
        "editor-clients/emacs/backendai-install.el (backendai-version)": _match(
            root / "editor-clients/emacs/backendai-install.el",
            r'^\(defconst backendai-version "([^"]+)"',
        ),
    }


def protocol_versions(root: Path) -> dict[str, str | None]:
    """Where a protocol version is written → the number written there."""
    return {
        "bai_lsp/lsp/protocol.py": _match(
            root / "bai_lsp/lsp/protocol.py", r"^PROTOCOL_VERSION = (\d+)"
        ),
        "editor-clients/vscode/src/install.ts": _match(
            root / "editor-clients/vscode/src/install.ts",
            r"^export const PROTOCOL_VERSION = (\d+);",
        ),
        "editor-clients/neovim/lua/backendai/version.lua": _match(
            root / "editor-clients/neovim/lua/backendai/version.lua", r"protocol = (\d+)"
        ),
        "editor-clients/emacs/backendai-install.el": _match(
            root / "editor-clients/emacs/backendai-install.el",
            r"^\(defconst backendai-protocol-version (\d+)",
        ),
    }


def problems(root: Path, *, changelog: bool) -> tuple[str, list[str]]:
    """The release version (pyproject's) and what is wrong with the tree for releasing it."""
    found = versions(root)
    version = found["pyproject.toml"] or "?"
    errors = [
        f"{where} has version {have or '(none found)'}, pyproject.toml has {version}"
        for where, have in found.items()
        if have != version
    ]
    protocol = protocol_versions(root)
    server = protocol["bai_lsp/lsp/protocol.py"]
    errors += [
        f"{where} has protocol version {have or '(none found)'}, the server has {server}"
        for where, have in protocol.items()
        if have != server
    ]
    if changelog:
        text = (root / "CHANGELOG.md").read_text(encoding="utf-8")
        if not re.search(rf"^## \[{re.escape(version)}\]", text, re.MULTILINE):
            errors.append(
                f"CHANGELOG.md has no section for {version} (a line '## [{version}] - DATE')"
            )
    return version, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--changelog", action="store_true", help="also check CHANGELOG.md")
    args = parser.parse_args(argv)
    version, errors = problems(args.root, changelog=args.changelog)
    for error in errors:
        print(f"check_versions: {error}", file=sys.stderr)
    if errors:
        return 1
    print(version)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
