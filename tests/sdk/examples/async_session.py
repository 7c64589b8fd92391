"""Seed example "Asyncio-native API session".

Changed: ``await`` before ``api_session.System.get_versions()``: in an AsyncSession every API
function is a coroutine, so the seed as written prints ``<coroutine object ...>``.
"""

import asyncio

from ai.backend.client.session import AsyncSession


async def main():
    async with AsyncSession() as api_session:
        print(await api_session.System.get_versions())


if __name__ == "__main__":
    asyncio.run(main())
