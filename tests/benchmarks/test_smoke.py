"""The benchmark command works end to end (``python -m benchmarks --smoke``).

Benchmarks are not timed tests: this checks that the one command runs all three stacks —
raw ipykernel, the official SDK, bai-lsp — and prints every metric row and every target
with a verdict, never that a target passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# tests/ is on sys.path too; the benchmark package is the repository's top-level one.
sys.path.insert(0, str(REPO))

from benchmarks import config  # noqa: E402
from benchmarks.report import STACK_TITLES, TARGET_LABELS, metric_labels  # noqa: E402

pytestmark = pytest.mark.slow

SMOKE_TIMEOUT = 600


def test_smoke_command_prints_every_metric_and_verdict(tmp_path: Path) -> None:
    if not (REPO / ".venv-sdk" / "bin" / "python").exists():
        pytest.skip(".venv-sdk is missing: run scripts/setup/20-sdk.sh (scripts/test.sh does)")
    out_json = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out_json)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
        check=False,
    )
    report = done.stdout
    assert done.returncode == 0, f"exit {done.returncode}\n{report}\n{done.stderr[-6000:]}"
    header = next(line for line in report.splitlines() if line.startswith("| metric |"))
    for title in STACK_TITLES.values():
        assert title in header
    for label in metric_labels(config.SMOKE.workspace_counts):
        rows = [line for line in report.splitlines() if line.startswith(f"| {label} |")]
        assert len(rows) == 1, f"metric row {label!r} missing:\n{report}"
    for label in TARGET_LABELS:
        rows = [line for line in report.splitlines() if line.startswith(f"| {label} |")]
        assert len(rows) == 1, f"target row {label!r} missing:\n{report}"
        assert "| PASS |" in rows[0] or "| FAIL |" in rows[0], rows[0]
    # Every stack measured what it is compared on (no "n/a" where a number belongs).
    lines = report.splitlines()
    first_output = next(r for r in lines if r.startswith("| print(1) first output p50"))
    assert "n/a" not in first_output, first_output
    assert "SMOKE sizes" in report and "CPUs" in report
    assert out_json.exists()


def test_hops_command_times_every_hop_of_a_run(tmp_path: Path) -> None:
    """``python -m benchmarks.hops`` finds every hop's marks in every run it times."""
    from benchmarks.hops import HOPS

    out_json = tmp_path / "hops.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.hops", "--runs", "5", "--json", str(out_json)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for label, *_ in HOPS:
        assert f"| {label} |" in done.stdout, done.stdout
    hops = json.loads(out_json.read_text())["hops"]
    assert {label: len(hops[label]) for label, *_ in HOPS} == {label: 5 for label, *_ in HOPS}
