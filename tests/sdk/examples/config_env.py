"""Seed example "Implicit configuration from environment variables" (unchanged).

BACKEND_ENDPOINT / BACKEND_ACCESS_KEY / BACKEND_SECRET_KEY come from the environment.
"""

from ai.backend.client.session import Session


def main():
    with Session() as api_session:
        print(api_session.System.get_versions())


if __name__ == "__main__":
    main()
