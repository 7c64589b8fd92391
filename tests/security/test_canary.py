"""A canary secret key must appear 0 times in server logs (debug level), LSP traffic,
error data, output files, the state folder, the gateway's log and kernel environments."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from faults.procs import _environ, session_processes
from faults.rawlsp import RawServer, start_raw_server
from lsp.harness import needs_backend
from support.gateway import TEST_ACCESS_KEY, running_gateway

pytestmark = needs_backend


def _occurrences(canary: str, blobs: dict[str, bytes]) -> list[str]:
    return [name for name, blob in blobs.items() if canary.encode() in blob]


def _tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


async def _run(server: RawServer, path: Path, code: str, language: str) -> dict[str, object]:
    uri = await server.open_doc(path, code, language)
    return await server.command("backendai.runFile", {"uri": uri}, timeout=90)


async def test_canary_secret_key_never_leaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "CANARYsecret" + secrets.token_hex(14)
    wrong = "CANARYwrong" + secrets.token_hex(14)  # a refused key must not leak either
    with running_gateway(tmp_path / "gw", secret_key=canary) as gateway:
        folder = tmp_path / "ws"
        folder.mkdir()
        log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
        options = {
            "endpoint": gateway.endpoint,
            "accessKey": TEST_ACCESS_KEY,
            "secretKey": canary,
            "onExit": "destroy",
            "environ": {"USER_VAR": "visible"},
            "output": {"maxBytesPerRun": 4096},
        }
        a = await start_raw_server(tmp_path / "state-a", log_file=log_a)
        b = await start_raw_server(tmp_path / "state-b", log_file=log_b)
        kernel_envs: dict[str, bytes] = {}
        try:
            await a.initialize([folder], options)
            results = [
                await _run(a, folder / "env.py", "import os\nprint(dict(os.environ))\n", "python"),
                await _run(a, folder / "env.sh", "env\n", "shellscript"),
                await _run(a, folder / "big.py", "print('y' * 100000)\n", "python"),
                await _run(a, folder / "err.py", "raise RuntimeError('boom')\n", "python"),
            ]
            assert all("result" in r for r in results), results
            text = a.raw_bytes.decode(errors="replace")
            assert "USER_VAR" in text and "visible" in text, "the environment was printed"
            finished = a.notifications("backendai/runFinished")
            output_files = [Path(f["outputFile"]) for f in finished if f.get("outputFile")]
            assert output_files, "the byte budget produced an output file"
            for pid in session_processes(gateway.data_dir):
                kernel_envs[f"/proc/{pid}/environ"] = "\0".join(
                    f"{k}={v}" for k, v in _environ(pid).items()
                ).encode()
            assert kernel_envs, "kernels were running"
            await b.initialize([folder], {**options, "secretKey": wrong})
            refused = await _run(b, folder / "env.py", "print(1)\n", "python")
            assert refused["error"]["data"]["kind"] == "credentialsRefused", refused  # type: ignore[index]
        finally:
            await a.close()
            await b.close()
        blobs: dict[str, bytes] = {
            "LSP traffic (server A)": bytes(a.raw_bytes),
            "LSP traffic (server B, refused key)": bytes(b.raw_bytes),
            "server A log": log_a.read_bytes(),
            "server B log": log_b.read_bytes(),
            "gateway log": gateway.log().encode(),
            **{f"output file {p}": p.read_bytes() for p in output_files if p.exists()},
            **kernel_envs,
            **_tree(tmp_path / "state-a"),
            **_tree(tmp_path / "state-b"),
            **_tree(gateway.data_dir / "sessions"),
        }
    leaks = _occurrences(canary, blobs) + _occurrences(wrong, blobs)
    with capsys.disabled():
        print(
            f"\n[security] canary secret key: {len(blobs)} places searched (logs, LSP traffic, "
            f"error data, {len(output_files)} output files, {len(kernel_envs)} kernel "
            f"environments, state and session folders): {len(leaks)} occurrences"
        )
    assert leaks == []
