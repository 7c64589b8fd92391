"""The signing test vectors of the shared API reference (§2.2), computed by the 23.9.10 SDK."""

from __future__ import annotations

import pytest

from bai_lsp.wire import signing

ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DATE = "2024-01-02T03:04:05.678901+00:00"


@pytest.mark.parametrize(
    ("method", "rel_url", "content_type", "expected"),
    [
        (
            "POST",
            "/session",
            "application/json",
            "e03ce050dc314d6df15be37d853509382afbb82ca5270ebbe346a92c79017a9a",
        ),
        (
            "GET",
            "/session/mysess?owner_access_key=AKIAIOSFODNN7EXAMPLE",
            "text/plain",
            "715f46bf814f511809f173d8eb9ff2a13523ecb660f0076626f01d73b04b772e",
        ),
        (
            "GET",
            "/stream/session/mysess/execute",
            "application/octet-stream",
            "1a4343b55fb401217eabc4c33520300664746c588a8c14fcfd96ac23088eaaf9",
        ),
    ],
)
def test_signature_matches_the_official_sdk(
    method: str, rel_url: str, content_type: str, expected: str
) -> None:
    got = signing.sign(
        secret_key=SECRET,
        method=method,
        rel_url=rel_url,
        date=DATE,
        host="127.0.0.1:8081",
        content_type=content_type,
        api_version="v7.20230615",
    )
    assert got == expected


def test_authorization_header_round_trips() -> None:
    header = signing.authorization_header(ACCESS, "abc123")
    cred = signing.parse_authorization(header)
    assert cred == signing.Credential(ACCESS, "abc123", "HMAC-SHA256")


@pytest.mark.parametrize(
    "header",
    ["", "BackendAI", "Bearer credential=a:b", "BackendAI credential=nocolon", "BackendAI x"],
)
def test_malformed_authorization_is_rejected(header: str) -> None:
    assert signing.parse_authorization(header) is None


def test_dates_parse_leniently_and_naive_means_utc() -> None:
    assert signing.parse_date("2024-01-02T03:04:05") is not None
    assert signing.parse_date("Tue, 02 Jan 2024 03:04:05 GMT") is not None
    assert signing.parse_date("yesterday") is None
