"""``bai-lsp run FILE`` from a terminal: streamed output and the run's exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lsp.harness import needs_backend

ROOT = Path(__file__).resolve().parents[2]

pytestmark = needs_backend


def run(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}
    env["BAI_LSP_STATE_DIR"] = str(tmp_path / "state")
    return subprocess.run(
        [sys.executable, "-m", "bai_lsp", "run", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_the_readme_example_runs(tmp_path: Path) -> None:
    done = run([str(ROOT / "examples" / "hello.py")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Hello from Backend.AI!" in done.stdout
    assert "sum(range(10)) = 45" in done.stdout


def test_exit_code_and_input_in_batch_mode(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("import sys\nname = input('who? ')\nprint('bye', name)\nsys.exit(3)\n")
    done = run([str(script), "--mode", "batch"], tmp_path, stdin="Ada\n")
    assert "bye Ada" in done.stdout
    assert done.returncode == 3, done.stderr


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = run([str(tmp_path / "nope.py")], tmp_path)
    assert done.returncode == 2
    assert "cannot read" in done.stderr
