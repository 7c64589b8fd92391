"""The layering rules of docs/architecture.md, checked on the import statements themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "bai_lsp"


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((PKG / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(PKG))] = names
    return found


@pytest.mark.parametrize("package", ["wire", "gateway", "backendai", "domain"])
def test_no_pygls_below_the_transport(package: str) -> None:
    offenders = {
        f: sorted(m for m in mods if m.split(".")[0] in ("pygls", "lsprotocol"))
        for f, mods in imported_modules(package).items()
    }
    assert {f: m for f, m in offenders.items() if m} == {}


@pytest.mark.parametrize(
    ("package", "forbidden"), [("gateway", "backendai"), ("backendai", "gateway")]
)
def test_gateway_and_client_share_only_the_wire(package: str, forbidden: str) -> None:
    offenders = {
        f: sorted(m for m in mods if m.startswith(f"bai_lsp.{forbidden}"))
        for f, mods in imported_modules(package).items()
    }
    assert {f: m for f, m in offenders.items() if m} == {}
