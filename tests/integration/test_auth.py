"""Authentication and authorization on the command API (docs/architecture.md, guarantee 10;
docs/api.md, "Command API")."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import jwt
import pytest
from fastapi.testclient import TestClient

from eventshop import wiring
from eventshop.settings import Settings
from http_edge.tokens import DEV_SECRET
from tests.support.stack import (
    PASSWORD,
    TEST_SECRET,
    Servers,
    Stack,
    isolated_settings,
    login,
    running_stack,
)
from tests.support.tokens import claims, forged_token


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
        body["access_token"], TEST_SECRET, algorithms=["HS256"], audience="eventshop-api"
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


def _signed(secret: str = TEST_SECRET, **overrides: object) -> str:
    return forged_token(secret, **overrides)


def _tampered() -> str:
    header, payload, signature = _signed().split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{header}.{payload}.{flipped}"


#: Each defect, built when the test runs (so none is merely expired), and the same
#: token with only that defect mended: it must pass, or the case proves nothing.
BAD_TOKENS: dict[str, tuple[Callable[[], str], Callable[[], str]]] = {
    "expired": (lambda: _signed(exp=int(time.time()) - 10), _signed),
    "alg none": (
        lambda: jwt.encode(claims(), None, algorithm="none"),  # type: ignore[arg-type]
        _signed,
    ),
    "tampered": (_tampered, _signed),
    "other secret": (lambda: _signed("another-secret-that-is-long-enough!!"), _signed),
    "wrong audience": (lambda: _signed(aud="someone-else"), _signed),
    "wrong issuer": (lambda: _signed(iss="someone-else"), _signed),
    "no subject": (lambda: _signed(sub=None), _signed),
    "not a uuid subject": (lambda: _signed(sub="root"), _signed),
    "unknown role": (lambda: _signed(role="superuser"), _signed),
    "garbage": (lambda: "not.a.token", _signed),
}
ADMIN_ROUTES = [
    ("post", "/products", lambda: {"sku": f"X-{uuid4().hex[:8]}", "title": "X", "price": 1}),
    ("post", f"/products/{uuid4()}/stock", lambda: {"delta": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_refuse_a_missing_token_with_401(
    stack: Stack, method: str, path: str, body: Callable[[], dict[str, Any]]
) -> None:
    response = getattr(stack.commands, method)(path, json=body())
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_token_is_401_and_the_same_token_mended_passes(
    stack: Stack, method: str, path: str, body: Callable[[], dict[str, Any]], case: str
) -> None:
    broken, mended = BAD_TOKENS[case]
    refused = getattr(stack.commands, method)(path, json=body(), headers=bearer(broken()))
    assert refused.status_code == 401, refused.text
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.json()["code"] == "UNAUTHORIZED"
    accepted = getattr(stack.commands, method)(path, json=body(), headers=bearer(mended()))
    assert accepted.status_code in {201, 404}, accepted.text  # created, or no such product


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_refuse_customers_with_403(
    stack: Stack, method: str, path: str, body: Callable[[], dict[str, Any]]
) -> None:
    _, email = register(stack)
    response = getattr(stack.commands, method)(
        path, json=body(), headers=bearer(login(stack.commands, email))
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


def test_any_process_off_the_embedded_servers_refuses_a_weak_jwt_secret(
    servers: Servers,
) -> None:
    for env in ("development", "production"):
        for secret in (DEV_SECRET, "short"):
            settings = isolated_settings(servers, env=env, jwt_secret=secret)
            with pytest.raises(wiring.NotConfiguredError, match="JWT_SECRET"):
                wiring.command_app(settings)
            with pytest.raises(wiring.NotConfiguredError, match="JWT_SECRET"):
                wiring.query_app(settings)
    strong = isolated_settings(servers, env="production", jwt_secret="x" * 40)
    wiring.migrate(strong)
    with TestClient(wiring.command_app(strong)) as client:
        assert client.get("/healthz").status_code == 200


def test_only_the_embedded_development_stack_may_use_the_development_secret(
    tmp_path: Path,
) -> None:
    socket_dir = tmp_path / "pg"
    embedded = Settings(
        data_dir=tmp_path,
        database_url=f"postgresql://postgres@/postgres?host={socket_dir}",
        kafka_bootstrap_servers="127.0.0.1:19092",
    )
    assert wiring.on_embedded_servers(embedded)
    assert wiring.tokens(embedded).secret == DEV_SECRET
    for elsewhere in (
        {"database_url": "postgresql://postgres@127.0.0.1:5432/postgres"},
        {"database_url": f"postgresql://postgres@/postgres?host={tmp_path / 'other'}"},
        {"kafka_bootstrap_servers": "kafka.internal:9092"},
        {"env": "production"},
    ):
        settings = embedded.model_copy(update=elsewhere)
        with pytest.raises(wiring.NotConfiguredError, match="JWT_SECRET"):
            wiring.tokens(settings)
