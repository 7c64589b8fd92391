"""scripts/release.sh and the one version number: what a maintainer sees when releasing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from install_env import REPO, Release

CHECK = REPO / "scripts" / "check_versions.py"
VERSIONED = [
    "pyproject.toml",
    "bai_lsp/__init__.py",
    "bai_lsp/lsp/protocol.py",
    "CHANGELOG.md",
    "editor-clients/vscode/package.json",
    "editor-clients/vscode/src/install.ts",
    "editor-clients/neovim/lua/backendai/version.lua",
    "editor-clients/emacs/backendai.el",
    "editor-clients/emacs/backendai-install.el",
]


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--root", str(root), "--changelog"],
        capture_output=True,
        text=True,
        check=False,
    )


def _copy(tmp_path: Path) -> Path:
    for rel in VERSIONED:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    return tmp_path


def test_every_file_carries_the_same_version() -> None:
    done = _check(REPO)
    assert done.returncode == 0, done.stderr
    package = json.loads((REPO / "editor-clients/vscode/package.json").read_text())
    assert done.stdout.strip() == package["version"]


def test_a_version_out_of_step_is_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    package = root / "editor-clients/vscode/package.json"
    data = json.loads(package.read_text())
    version = data["version"]
    data["version"] = "9.9.9"
    package.write_text(json.dumps(data))
    lua = root / "editor-clients/neovim/lua/backendai/version.lua"
    lua.write_text(lua.read_text().replace("protocol = 1", "protocol = 2"))
    done = _check(root)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"check_versions: editor-clients/vscode/package.json has version 9.9.9, "
        f"pyproject.toml has {version}",
        "check_versions: editor-clients/neovim/lua/backendai/version.lua has protocol "
        "version 2, the server has 1",
    ]


def test_a_release_needs_its_changelog_section(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    changelog = root / "CHANGELOG.md"
    version = _check(REPO).stdout.strip()
    changelog.write_text(changelog.read_text().replace(f"## [{version}]", "## [Unreleased]"))
    done = _check(root)
    assert done.returncode == 1
    assert done.stderr == (
        f"check_versions: CHANGELOG.md has no section for {version} "
        f"(a line '## [{version}] - DATE')\n"
    )


def test_release_artifacts(release: Release) -> None:
    v = release.version
    names = sorted(p.name for p in release.out.iterdir())
    assert names == sorted(
        [
            "SHA256SUMS",
            f"backendai-{v}.tar",
            f"backendai-nvim-{v}.tar.gz",
            release.vsix.name,
            f"bai_lsp-{v}-py3-none-any.whl",
            f"bai_lsp-{v}.tar.gz",
            "wheels",
        ]
    )
    manifest = json.loads((release.out / "wheels" / "manifest.json").read_text())
    assert manifest["version"] == v and manifest["python"] == "3.11"
    with zipfile.ZipFile(release.vsix) as vsix:
        bundled = {n.rsplit("/", 1)[-1] for n in vsix.namelist() if "/bundled/wheels/" in n}
        package = json.loads(vsix.read("extension/package.json"))
    assert package["version"] == v
    # every wheel of the wheelhouse, the binary ones included, is in the .vsix
    wheelhouse = {p.name for p in (release.out / "wheels").iterdir()}
    assert bundled == wheelhouse
    assert f"bai_lsp-{v}-py3-none-any.whl" in bundled
    assert any(n.startswith("pyzmq-") and "manylinux" in n for n in bundled)
    assert any(n.startswith("pip-") for n in bundled)
    sums = (release.out / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == 5


def test_release_refuses_a_tree_with_uncommitted_changes(tmp_path: Path) -> None:
    clone = _copy(tmp_path / "clone")
    for rel in ("scripts/release.sh", "scripts/check_versions.py", "requirements/constraints.txt"):
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, clone / rel)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=clone, check=True)
    subprocess.run([*git, "add", "."], cwd=clone, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], cwd=clone, check=True)
    (clone / "CHANGELOG.md").write_text((clone / "CHANGELOG.md").read_text() + "\nmore\n")
    done = subprocess.run(
        ["bash", "scripts/release.sh", "--out", str(tmp_path / "dist")],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "the tree has uncommitted changes (commit them, or pass --allow-dirty)" in done.stderr
    assert not (tmp_path / "dist").exists()
