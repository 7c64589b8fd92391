"""The launcher's calls against the real Backend.AI manager 26.9.6 (scripts/real-backendai.sh).

Runs when the environment has what ``eval "$(bash scripts/real-backendai.sh up)"`` exports
(``BAI_REALBACKENDAI_STATE`` and the admin keypair in ``BACKEND_*``); skipped otherwise. The
recipe runs no storage proxy, so vfolder creation is refused by the manager: the test pins
the message the user then reads.
"""

from __future__ import annotations

import os

import pytest

from bai_lsp.backendai import APIConfig, BackendAIClient
from bai_lsp.backendai.errors import BadRequestError
from bai_lsp.backendai.launcher import LauncherCalls
from bai_lsp.domain.launcher import image_ref, presets_of

pytestmark = pytest.mark.skipif(
    not os.environ.get("BAI_REALBACKENDAI_STATE"),
    reason='no real manager: eval "$(bash scripts/real-backendai.sh up)" first',
)


async def test_presets_images_groups_and_vfolders_on_the_real_manager() -> None:
    async with BackendAIClient(APIConfig()) as client:
        calls = LauncherCalls(client)
        presets = presets_of(await calls.check_presets("default"))
        assert presets and all(p["resources"].get("cpu") for p in presets), presets
        refs = [image_ref(i) for i in await calls.images()]
        assert any("python" in r for r in refs), refs
        assert "default" in await calls.scaling_groups("default")
        assert isinstance(await calls.list_vfolders(), list)
        with pytest.raises(BadRequestError, match="vfolder host"):
            await calls.create_vfolder("launcher-probe")
