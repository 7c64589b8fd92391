"""The versions an editor plugin reads from the server: ``bai-lsp --version`` and the
``initialize`` result (``serverInfo`` and the protocol version the plugins compare)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bai_lsp import __version__
from bai_lsp.lsp.protocol import PROTOCOL_VERSION
from lsp.harness import start_server


def test_version_flag_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bai_lsp", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"bai-lsp {__version__}"


async def test_initialize_names_the_server_version_and_protocol(
    tmp_path: Path, state_dir: Path
) -> None:
    async with start_server([tmp_path], state_dir=state_dir) as h:
        result = h.initialize_result
        assert result is not None and result.server_info is not None
        assert (result.server_info.name, result.server_info.version) == ("bai-lsp", __version__)
        experimental = result.capabilities.experimental
        assert isinstance(experimental, dict)
        assert experimental["backendai"] == {"protocolVersion": PROTOCOL_VERSION}
        # the rest of the capabilities are still there
        provider = result.capabilities.execute_command_provider
        assert provider is not None and "backendai.runSelection" in provider.commands
