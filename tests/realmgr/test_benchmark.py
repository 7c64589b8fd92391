"""The real-manager benchmark works end to end (``python -m benchmarks --smoke --phases realmgr``).

Not a timed test: it checks that the one command drives every stack — the official SDKs 23.9.10
and 26.9.6, bai-lsp's client, bai-lsp over stdio — through the real manager and prints every
row with a figure and every target with a verdict, never that a target passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.realbackendai.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import config, real_report  # noqa: E402

SMOKE_TIMEOUT = 600


def test_smoke_real_manager_phase_prints_every_row_for_every_stack(
    realmgr: Cluster, tmp_path: Path
) -> None:
    for venv, setup in ((".venv-sdk", "20-sdk.sh"), (".venv-sdk-26", "25-sdk-newest.sh")):
        if not (REPO / venv / "bin" / "python").exists():
            pytest.skip(f"{venv} is missing: run scripts/setup/{setup} (scripts/test.sh does)")
    out_json = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}
    env.update(realmgr.env())
    command = [sys.executable, "-m", "benchmarks", "--smoke", "--phases", "realmgr"]
    done = subprocess.run(
        [*command, "--json", str(out_json)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
        check=False,
    )
    report = done.stdout
    assert done.returncode == 0, f"exit {done.returncode}\n{report}\n{done.stderr[-6000:]}"
    lines = report.splitlines()
    header = next(line for line in lines if line.startswith("| metric |"))
    for title in real_report.titles({"b": "23.9.10", "b26": "26.9.6"}).values():
        assert title in header
    # every stack measured every row: a stack that cannot do something reads n/a
    for label in real_report.metric_labels():
        rows = [line for line in lines if line.startswith(f"| {label} |")]
        assert len(rows) == 1, f"metric row {label!r} missing:\n{report}"
        assert "n/a" not in rows[0], f"{rows[0]}\n{done.stderr[-4000:]}"
    for label in real_report.TARGET_LABELS:
        rows = [line for line in lines if line.startswith(f"| {label} |")]
        assert len(rows) == 1, f"target row {label!r} missing:\n{report}"
        assert "| PASS |" in rows[0] or "| FAIL |" in rows[0], rows[0]
    assert "backend.ai-manager 26.9.6" in report and "SMOKE sizes" in report
    results = json.loads(out_json.read_text())["realmgr"]
    assert set(results) == {"b", "b26", "c0", "c"}
    assert not any(r.get("findings") or r.get("errors") for r in results.values()), results
    # the samples, taken in rounds (each round on every stack in turn), are all there
    smoke = config.REAL_SMOKE
    for name, result in results.items():
        assert len(result["create_s"]) == smoke.creations + 1, name
        assert len(result["status_s"]) == smoke.status_probes, name
        assert len(result["first_output_s"]) == smoke.latency_runs, name
    # the gateway stacks did not run: no gateway table
    assert "(a) raw ipykernel" not in report


def test_realmgr_phase_without_a_manager_says_how_to_get_one() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "SORNA_"))}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--phases", "realmgr"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "the realmgr phase needs a real manager: pass --real-manager" in done.stderr
    assert "BACKEND_ENDPOINT" in done.stderr
