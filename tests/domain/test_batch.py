"""Which files a batch run uploads and which commands it runs."""

from __future__ import annotations

from pathlib import Path

from bai_lsp.domain.batch import batch_options, glob_to_regex, select_files
from bai_lsp.domain.settings import BatchSettings


def test_globs() -> None:
    assert glob_to_regex("**/*.py").match("a/b/c.py")
    assert glob_to_regex("**/*.py").match("c.py")
    assert not glob_to_regex("*.py").match("a/c.py")
    assert glob_to_regex("data/**").match("data/x/y.csv")
    assert not glob_to_regex("?.c").match("ab.c")


def make_tree(root: Path) -> None:
    (root / "pkg").mkdir()
    (root / "pkg" / "util.py").write_text("X = 1\n")
    (root / "helper.py").write_text("def f(): ...\n")
    (root / "node_modules" / "lib").mkdir(parents=True)
    (root / "node_modules" / "lib" / "index.js").write_text("//\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    (root / "big.csv").write_bytes(b"x" * 2000)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"\0")


def test_default_selection_skips_vcs_dependencies_and_large_files(tmp_path: Path) -> None:
    make_tree(tmp_path)
    plan = select_files(tmp_path, "main.py", "print(1)\n", BatchSettings(max_file_bytes=1000))
    names = [name for name, _ in plan.files]
    assert names[0] == "main.py" and plan.files[0][1] == b"print(1)\n"
    assert sorted(names[1:]) == ["helper.py", "pkg/util.py"]
    assert len(plan.skipped) == 1 and "big.csv" in plan.skipped[0]


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    make_tree(tmp_path)
    plan = select_files(
        tmp_path,
        "main.py",
        "",
        BatchSettings(include=["**/*.py"], exclude=["pkg/**"]),
    )
    assert [name for name, _ in plan.files] == ["main.py", "helper.py"]


def test_max_files(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text("x")
    plan = select_files(tmp_path, "main.py", "", BatchSettings(max_files=3))
    assert len(plan.files) == 3
    assert len(plan.skipped) == 3


def test_commands_per_language() -> None:
    py = batch_options("python", "src/app.py", ["src/app.py"], BatchSettings())
    assert (py.build, py.exec) == (None, "python src/app.py")
    c = batch_options("c", "main.c", ["main.c", "util.c", "lib/other.c"], BatchSettings())
    assert c.build == "gcc -o main main.c util.c" and c.exec == "./main"
    sh = batch_options("shellscript", "run me.sh", ["run me.sh"], BatchSettings())
    assert sh.exec == "bash 'run me.sh'"
    custom = batch_options(
        "python",
        "a.py",
        ["a.py"],
        BatchSettings(build="pip install -r req.txt", exec="python -u {file}"),
    )
    assert (custom.build, custom.exec) == ("pip install -r req.txt", "python -u a.py")


def test_secrets_and_hidden_directories_stay_home(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TOKEN=x\n")
    (tmp_path / ".idea").mkdir()
    (tmp_path / ".idea" / "workspace.xml").write_text("<x/>")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".env.local").write_text("TOKEN=y\n")
    (tmp_path / "keep.txt").write_text("ok")
    plan = select_files(tmp_path, "main.py", "", BatchSettings())
    assert [name for name, _ in plan.files] == ["main.py", "keep.txt"]
