"""Seed example "Explicit configuration".

Changed: the endpoint is read from BACKEND_ENDPOINT instead of the seed's placeholder
``https://api.backend.ai.local`` (which no test can reach). The keypair still comes from the
environment, as in the seed.
"""

import os

from ai.backend.client.config import APIConfig
from ai.backend.client.session import Session


def main():
    config = APIConfig(
        endpoint=os.environ["BACKEND_ENDPOINT"],
        endpoint_type="api",
        domain="default",
        group="default",  # the default project name to use
    )
    with Session(config=config) as api_session:
        print(api_session.System.get_versions())


if __name__ == "__main__":
    main()
