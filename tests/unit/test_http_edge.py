"""The shared HTTP edge on its own: client addresses behind proxies, headers, hash slots."""

from __future__ import annotations

import time
from dataclasses import replace
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from contracts.redaction import redact
from http_edge.client import VerifiedTokens, client_address, parse_networks
from http_edge.headers import HeaderPolicy, install_headers
from http_edge.tokens import InvalidTokenError, TokenSettings
from write_side.application.passwords import (
    Argon2Passwords,
    HashCost,
    HashingBusyError,
    issue_access_token,
)

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def request_from(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # not a proxy of ours: the header is a lie
        ("10.1.2.3", "198.51.100.7", "198.51.100.7"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9", "198.51.100.7"),  # spoofed left part
        ("127.0.0.1", "10.0.0.2, 10.0.0.3", "127.0.0.1"),  # only proxies: the peer
        ("10.1.2.3", "not-an-ip", "not-an-ip"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str, forwarded: str | None, client: str
) -> None:
    assert client_address(request_from(peer, forwarded), PROXIES) == client


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address(request_from("10.1.2.3", "198.51.100.7"), ()) == "10.1.2.3"


def test_a_malformed_proxy_network_is_refused() -> None:
    with pytest.raises(ValueError, match="does not appear"):
        parse_networks(["10.0.0.0/33"])


def app_with(policy: HeaderPolicy) -> TestClient:
    app = FastAPI()

    @app.get("/thing")
    def thing() -> dict[str, str]:
        return {"ok": "yes"}

    install_headers(app, policy)
    return TestClient(app)


def test_every_answer_has_the_security_headers_and_private_ones_are_not_stored() -> None:
    client = app_with(HeaderPolicy())
    anonymous = client.get("/thing")
    assert anonymous.headers["X-Content-Type-Options"] == "nosniff"
    assert anonymous.headers["X-Frame-Options"] == "DENY"
    assert anonymous.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert anonymous.headers["Referrer-Policy"] == "no-referrer"
    assert "Cache-Control" not in anonymous.headers
    assert "Strict-Transport-Security" not in anonymous.headers
    private = client.get("/thing", headers={"Authorization": "Bearer x"})
    assert private.headers["Cache-Control"] == "no-store"
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["X-Frame-Options"] == "DENY"


def test_hsts_and_cors_only_when_configured() -> None:
    client = app_with(HeaderPolicy(hsts_seconds=31536000, cors_origins=("https://shop.example",)))
    answer = client.get("/thing", headers={"Origin": "https://shop.example"})
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert answer.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "X-Consistency-Token" in answer.headers["Access-Control-Expose-Headers"]
    stranger = client.get("/thing", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers
    assert (
        "Access-Control-Allow-Origin"
        not in app_with(HeaderPolicy())
        .get("/thing", headers={"Origin": "https://shop.example"})
        .headers
    )


def test_password_hashing_past_the_cap_fails_at_once_instead_of_queueing() -> None:
    passwords = Argon2Passwords(HashCost(1, 8, 1), max_concurrent=1)
    hashed = passwords.hash("a password")
    with passwords._slot():  # one hash in progress: the cap is reached
        with pytest.raises(HashingBusyError):
            passwords.hash("another")
        with pytest.raises(HashingBusyError):
            passwords.verify(hashed, "a password")
    assert passwords.verify(hashed, "a password")  # the slot is free again


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("GET /products?access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig&x=1", "eyJ"),
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("username=a%40b.c&password=hunter2-pw", "hunter2-pw"),
        ('{"password": "hunter 2 pw", "name": "x"}', "hunter 2 pw"),
        ("input_value={'sku': 1, 'password': 'pw-in-repr'}", "pw-in-repr"),
        ("stored $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA here", "c2FsdA"),
        ("jwt_secret=a-long-server-secret", "a-long-server-secret"),
    ],
)
def test_secrets_are_redacted_from_log_text(line: str, secret: str) -> None:
    assert secret not in redact(line)
    assert "[redacted]" in redact(line)


def test_redaction_leaves_ordinary_text_alone() -> None:
    text = "token expired for customer 42; tokens are fine; password policy: 8+ characters"
    assert redact("GET /products?sort=price&limit=5") == "GET /products?sort=price&limit=5"
    assert redact(text).startswith("token expired for customer 42")


def test_a_verified_token_is_kept_until_it_expires_and_only_for_its_settings() -> None:
    settings = TokenSettings(secret="s" * 40)
    tokens = VerifiedTokens(size=2)
    token = issue_access_token(settings, uuid4(), "customer").access_token
    assert tokens.verify(token, settings) == tokens.verify(token, settings)
    with pytest.raises(InvalidTokenError):
        tokens.verify(token, TokenSettings(secret="t" * 40))  # another secret: checked anew
    expired = issue_access_token(settings, uuid4(), "customer", now=time.time() - 7200)
    with pytest.raises(InvalidTokenError):
        tokens.verify(expired.access_token, settings)
    soon = issue_access_token(replace(settings, ttl_seconds=1), uuid4(), "admin").access_token
    tokens.verify(soon, replace(settings, ttl_seconds=1))
    time.sleep(1.1)
    with pytest.raises(InvalidTokenError):  # kept, but past its exp: refused, not served
        tokens.verify(soon, replace(settings, ttl_seconds=1))
