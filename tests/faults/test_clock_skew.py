"""Clock skew beyond Backend.AI's 15-minute window, through our client's injectable clock
(the only fault here that cannot be produced for real without changing the system clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.gateway import GatewayInfo

from bai_lsp.backendai.client import BackendAIClient
from bai_lsp.backendai.config import APIConfig
from bai_lsp.backendai.errors import ClockSkewError


def _config(gateway: GatewayInfo, minutes: float) -> APIConfig:
    return APIConfig(
        endpoint=gateway.endpoint,
        access_key=gateway.access_key,
        secret_key=gateway.secret_key,
        max_retries=0,
        clock=lambda: datetime.now(UTC) + timedelta(minutes=minutes),
        environ={},
    )


@pytest.mark.parametrize("minutes", [16, -16, 60 * 24])
async def test_skew_beyond_15_minutes_is_refused_with_a_clear_message(
    gateway: GatewayInfo, minutes: float
) -> None:
    async with BackendAIClient(_config(gateway, minutes)) as client:
        with pytest.raises(ClockSkewError) as caught:
            await client.list_sessions()
    message = caught.value.user_message
    assert "15 minutes" in message and "clock" in message
    assert ("ahead of" if minutes > 0 else "behind") in message
    assert gateway.secret_key not in message


@pytest.mark.parametrize("minutes", [14, -14])
async def test_skew_within_the_window_works(gateway: GatewayInfo, minutes: float) -> None:
    async with BackendAIClient(_config(gateway, minutes)) as client:
        page = await client.list_sessions()
    assert page.total_count >= 0
