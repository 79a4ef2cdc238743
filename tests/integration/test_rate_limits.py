"""Rate limits hold across replicas, throttle password guessing, and say when to retry.

Counters live in PostgreSQL (http_edge.rate_limits), so two API processes on one database share
every limit; each refusal is a 429 problem with Retry-After (guarantee 9, docs/architecture.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from uuid import uuid4

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.support.served import free_port
from tests.support.stack import PASSWORD, Servers, Stack, running_stack

STRICT = {
    "rate_limit_requests": 1_000_000,
    "login_limit": 1_000,
    "login_max_failures": 5,
}


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers, **STRICT) as stack:
        yield stack


def register(client: TestClient | httpx2.Client) -> str:
    email = f"r-{uuid4().hex[:10]}@example.com"
    created = client.post("/customers", json={"email": email, "name": "R", "password": PASSWORD})
    assert created.status_code == 201, created.text
    return email


def assert_rate_limited(response: httpx2.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) >= 1


def test_forty_wrong_passwords_get_429_before_the_tenth_and_lock_the_right_one_out(
    stack: Stack,
) -> None:
    email = register(stack.commands)
    statuses = []
    for _ in range(40):
        response = stack.commands.post("/auth/token", data={"username": email, "password": "x" * 9})
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}, statuses
    assert_rate_limited(response)
    # A success does not slip through the lock-out, nor lift it.
    right = stack.commands.post("/auth/token", data={"username": email, "password": PASSWORD})
    assert_rate_limited(right)
    # Other accounts are not affected.
    other = stack.commands.post(
        "/customers",
        json={"email": f"o-{uuid4().hex[:8]}@x.com", "name": "O", "password": PASSWORD},
    )
    assert other.status_code == 201
    fine = stack.commands.post(
        "/auth/token",
        data={"username": other.request.read().decode().split('"')[3], "password": PASSWORD},
    )
    assert fine.status_code == 200, fine.text


def test_the_lock_out_holds_across_two_api_processes_on_one_database(stack: Stack) -> None:
    ports = [free_port(), free_port()]
    children = [stack.child("serve", "command", EVENTSHOP_COMMAND_PORT=str(port)) for port in ports]
    try:
        clients = [httpx2.Client(base_url=f"http://127.0.0.1:{p}", timeout=10) for p in ports]
        for client in clients:
            _wait_until_serving(client)
        email = register(clients[0])
        statuses = []
        for attempt in range(40):
            client = clients[attempt % 2]  # alternate: each process sees half the attempts
            response = client.post(
                "/auth/token", data={"username": email, "password": "wrong-pass"}
            )
            statuses.append(response.status_code)
        first_429 = statuses.index(429)
        assert first_429 < 9, statuses
        assert set(statuses[first_429:]) == {429}, statuses
    finally:
        for child in children:
            child.terminate()
            child.wait(timeout=15)


def _wait_until_serving(client: httpx2.Client) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the command API process did not start")


def test_registrations_are_limited_per_address(servers: Servers) -> None:
    with running_stack(servers, register_limit=3) as stack:
        statuses = [
            stack.commands.post(
                "/customers",
                json={"email": f"l-{uuid4().hex[:10]}@x.com", "name": "L", "password": PASSWORD},
            ).status_code
            for _ in range(4)
        ]
        assert statuses == [201, 201, 201, 429]
        # Signed in, the same address still counts as the same registrant.
        again = stack.admin.post(
            "/customers",
            json={"email": f"a-{uuid4().hex[:8]}@x.com", "name": "A", "password": PASSWORD},
        )
        assert_rate_limited(again)


def test_the_general_limit_is_per_subject_and_publishes_its_policy(servers: Servers) -> None:
    with running_stack(servers, rate_limit_requests=5) as stack:
        first = stack.queries.get("/products")
        assert first.status_code == 200
        assert first.headers["RateLimit-Policy"] == '"api";q=5;w=60'
        assert first.headers["RateLimit"].startswith('"api";r=4;t=')
        for _ in range(4):
            assert stack.queries.get("/products").status_code == 200
        assert_rate_limited(stack.queries.get("/products"))
        # An authenticated client has its own budget, however many share its address.
        assert stack.admin_queries.get("/products").status_code == 200
        # Health probes are never limited.
        assert stack.queries.get("/healthz").status_code == 200


def test_sign_ins_and_registrations_past_the_hashing_cap_are_503_at_once(stack: Stack) -> None:
    email = register(stack.commands)
    passwords = stack.commands.app.state.shop.passwords  # type: ignore[attr-defined]
    cap = stack.settings.password_hash_concurrency
    for _ in range(cap):  # as if `cap` hashes were in progress
        assert passwords._slots.acquire(blocking=False)
    try:
        started = time.monotonic()
        busy = [
            stack.commands.post("/auth/token", data={"username": email, "password": PASSWORD}),
            stack.commands.post(
                "/customers",
                json={"email": f"b-{uuid4().hex}@x.com", "name": "B", "password": PASSWORD},
            ),
        ]
        assert time.monotonic() - started < 1
        for response in busy:
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "BUSY"
            assert response.headers["Retry-After"] == "1"
    finally:
        for _ in range(cap):
            passwords._slots.release()
    ok = stack.commands.post("/auth/token", data={"username": email, "password": PASSWORD})
    assert ok.status_code == 200


@pytest.fixture
def behind_a_proxy(stack: Stack) -> Iterator[httpx2.Client]:
    """A command-API process that believes X-Forwarded-For from loopback, as behind the
    balancer: each request below comes from the address it names."""
    port = free_port()
    child = stack.child(
        "serve",
        "command",
        EVENTSHOP_COMMAND_PORT=str(port),
        EVENTSHOP_TRUSTED_PROXIES="127.0.0.1",
        EVENTSHOP_LOGIN_FIRST_DELAY_SECONDS="1",
        EVENTSHOP_LOGIN_ACCOUNT_MAX_FAILURES="12",
        EVENTSHOP_LOGIN_ACCOUNT_DELAY_SECONDS="3",
    )
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            _wait_until_serving(client)
            yield client
    finally:
        child.terminate()
        child.wait(timeout=15)


def sign_in(client: httpx2.Client, email: str, password: str, address: str) -> httpx2.Response:
    return client.post(
        "/auth/token",
        data={"username": email, "password": password},
        headers={"X-Forwarded-For": address},
    )


def test_a_strangers_failures_do_not_lock_the_owner_out(behind_a_proxy: httpx2.Client) -> None:
    email = register(behind_a_proxy)
    stranger = [sign_in(behind_a_proxy, email, "guess-1234", "203.0.113.7") for _ in range(8)]
    assert [r.status_code for r in stranger[:5]] == [401] * 5
    assert_rate_limited(stranger[-1])  # the stranger waits
    owner = sign_in(behind_a_proxy, email, PASSWORD, "198.51.100.20")
    assert owner.status_code == 200, owner.text  # the owner, elsewhere, does not
    # From the stranger's address even the right password waits: no guess slips through.
    assert_rate_limited(sign_in(behind_a_proxy, email, PASSWORD, "203.0.113.7"))


def test_each_further_failure_from_an_address_doubles_its_delay(
    behind_a_proxy: httpx2.Client,
) -> None:
    email = register(behind_a_proxy)
    for _ in range(5):
        assert sign_in(behind_a_proxy, email, "guess-1234", "203.0.113.8").status_code == 401
    waits = []
    for _ in range(2):
        refused = sign_in(behind_a_proxy, email, "guess-1234", "203.0.113.8")
        assert_rate_limited(refused)
        waits.append(int(refused.headers["Retry-After"]))
        time.sleep(waits[-1] + 0.2)
        assert sign_in(behind_a_proxy, email, "guess-1234", "203.0.113.8").status_code == 401
    assert waits == [1, 2], waits


def test_guessing_spread_over_many_addresses_slows_the_account_briefly(
    behind_a_proxy: httpx2.Client,
) -> None:
    email = register(behind_a_proxy)
    for n in range(12):  # twelve addresses, one failure each: no address is delayed
        answer = sign_in(behind_a_proxy, email, "guess-1234", f"192.0.2.{n + 1}")
        assert answer.status_code == 401, answer.text
    slowed = sign_in(behind_a_proxy, email, PASSWORD, "198.51.100.30")
    assert_rate_limited(slowed)  # now the account waits, for everyone, briefly
    assert int(slowed.headers["Retry-After"]) <= 3
    time.sleep(int(slowed.headers["Retry-After"]) + 0.2)
    assert sign_in(behind_a_proxy, email, PASSWORD, "198.51.100.30").status_code == 200
