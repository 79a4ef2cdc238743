"""Authentication and authorization on the command API (DESIGN.md §4.10, §5)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import jwt
import pytest
from fastapi.testclient import TestClient

from contracts.auth import DEV_SECRET
from eventshop import wiring
from tests.support.stack import PASSWORD, Servers, Stack, isolated_settings, login, running_stack
from tests.support.tokens import forged_token


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        yield stack


def register(stack: Stack, email: str | None = None) -> tuple[str, str]:
    email = email or f"c-{uuid4().hex[:8]}@example.com"
    created = stack.commands.post(
        "/customers", json={"email": email, "name": "Cat", "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    return created.json()["id"], email


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_customer_logs_in_with_email_and_password(stack: Stack) -> None:
    customer_id, email = register(stack)
    response = stack.commands.post(
        "/auth/token", data={"username": email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    claims = jwt.decode(
        body["access_token"], DEV_SECRET, algorithms=["HS256"], audience="eventshop-api"
    )
    assert (claims["sub"], claims["role"]) == (customer_id, "customer")


@pytest.mark.parametrize("case", ["wrong password", "unknown email"])
def test_bad_credentials_are_401_and_indistinguishable(stack: Stack, case: str) -> None:
    _, email = register(stack)
    username, password = (
        (email, "not-the-password")
        if case == "wrong password"
        else (f"nobody-{uuid4().hex[:6]}@example.com", PASSWORD)
    )
    response = stack.commands.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


BAD_TOKENS = {
    "expired": forged_token(exp=int(time.time()) - 10),
    "alg none": jwt.encode({"sub": str(uuid4()), "role": "admin"}, None, algorithm="none"),
    "tampered": forged_token()[:-4] + "AAAA",
    "other secret": jwt.encode(
        {
            "sub": str(uuid4()),
            "role": "admin",
            "iat": 0,
            "exp": 2**40,
            "iss": "eventshop",
            "aud": "eventshop-api",
        },
        "another-secret-that-is-long-enough!!",
        algorithm="HS256",
    ),
    "wrong audience": forged_token(aud="someone-else"),
    "wrong issuer": forged_token(iss="someone-else"),
    "no subject": forged_token(sub=None),
    "garbage": "not.a.token",
}
ADMIN_ROUTES = [
    ("post", "/products", {"sku": "X-1", "title": "X", "price": 1}),
    ("post", f"/products/{uuid4()}/stock", {"delta": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
@pytest.mark.parametrize("token", [None, *BAD_TOKENS], ids=str)
def test_admin_routes_refuse_missing_and_bad_tokens_with_401(
    stack: Stack, method: str, path: str, body: dict[str, Any], token: str | None
) -> None:
    headers = bearer(BAD_TOKENS[token]) if token else {}
    response = getattr(stack.commands, method)(path, json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_refuse_customers_with_403(
    stack: Stack, method: str, path: str, body: dict[str, Any]
) -> None:
    _, email = register(stack)
    response = getattr(stack.commands, method)(
        path, json=body, headers=bearer(login(stack.commands, email))
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


def test_a_customer_changes_their_own_name_and_email(stack: Stack) -> None:
    customer_id, email = register(stack)
    token = login(stack.commands, email)
    new_email = f"new-{uuid4().hex[:8]}@example.com"
    changed = stack.commands.patch(
        f"/customers/{customer_id}",
        json={"name": "Catherine", "email": new_email},
        headers=bearer(token),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 3
    login(stack.commands, new_email)  # the new email logs in
    old = stack.commands.post("/auth/token", data={"username": email, "password": PASSWORD})
    assert old.status_code == 401
    register(stack, email)  # and the old one is free for someone else


def test_an_email_in_use_cannot_be_taken_by_a_change(stack: Stack) -> None:
    _, taken = register(stack)
    customer_id, email = register(stack)
    response = stack.commands.patch(
        f"/customers/{customer_id}",
        json={"email": taken.upper()},
        headers=bearer(login(stack.commands, email)),
    )
    assert response.status_code == 409
    assert response.json()["code"] == "EMAIL_TAKEN"


def test_another_customers_profile_is_404_but_admins_may_change_it(stack: Stack) -> None:
    victim_id, _ = register(stack)
    _, email = register(stack)
    as_other = stack.commands.patch(
        f"/customers/{victim_id}",
        json={"name": "Mallory"},
        headers=bearer(login(stack.commands, email)),
    )
    assert as_other.status_code == 404
    as_admin = stack.admin.patch(f"/customers/{victim_id}", json={"name": "Victor"})
    assert as_admin.status_code == 200


def test_renames_reach_the_customers_read_model(stack: Stack) -> None:
    stack.start_relay()
    stack.start_projectors("customers")
    customer_id, _ = register(stack)
    renamed = stack.admin.patch(f"/customers/{customer_id}", json={"name": "Renamed"})
    read = stack.admin_queries.get(
        f"/customers/{customer_id}",
        headers={"X-Consistency-Token": renamed.headers["X-Consistency-Token"]},
    )
    assert read.json()["name"] == "Renamed"


def test_production_refuses_to_start_with_a_weak_jwt_secret(servers: Servers) -> None:
    for secret in (DEV_SECRET, "short"):
        settings = isolated_settings(servers, env="production", jwt_secret=secret)
        with pytest.raises(wiring.NotConfiguredError, match="JWT_SECRET"):
            wiring.command_app(settings)
    strong = isolated_settings(servers, env="production", jwt_secret="x" * 40)
    wiring.migrate(strong)
    with TestClient(wiring.command_app(strong)) as client:
        assert client.get("/healthz").status_code == 200
