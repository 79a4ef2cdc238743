"""``GET /ops``: the operators' page on the query API — HTML for admins, the sign-in form
(401) for anyone else, a cookie only /ops receives and no script can read."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from eventshop import wiring
from tests.support.served import free_port, served
from tests.support.stack import PASSWORD, Servers, Stack, login, running_stack


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors("customers")
        with served(stack.commands.app) as command_url:  # type: ignore[arg-type]
            stack.queries.app.state.ops_login_url = command_url  # type: ignore[attr-defined]
            yield stack


def an_admin(stack: Stack) -> str:
    email = f"ops-{uuid4().hex[:8]}@example.com"
    assert wiring.create_admin(stack.settings, email, PASSWORD)
    return email


def a_customer(stack: Stack) -> str:
    email = f"cust-{uuid4().hex[:8]}@example.com"
    body = {"email": email, "name": "C", "password": PASSWORD}
    assert stack.commands.post("/customers", json=body).status_code == 201
    return email


def browser(stack: Stack) -> TestClient:
    """A fresh client with its own cookie jar, as a browser would be."""
    return TestClient(stack.queries.app, follow_redirects=False)


def test_anyone_but_an_admin_gets_the_sign_in_form(stack: Stack) -> None:
    anonymous = browser(stack).get("/ops")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/ops/login">' in anonymous.text
    assert "frame-ancestors 'none'" in anonymous.headers["content-security-policy"]
    assert anonymous.headers["cache-control"] == "no-store"
    bearer = {"Authorization": f"Bearer {login(stack.commands, a_customer(stack))}"}
    assert browser(stack).get("/ops", headers=bearer).status_code == 403
    forged = browser(stack)
    forged.cookies.set("eventshop_ops", "v2.not-a-token", path="/ops")
    assert forged.get("/ops").status_code == 401


def test_an_admin_signs_in_with_the_form_and_sees_the_system(stack: Stack) -> None:
    client = browser(stack)
    signed_in = client.post("/ops/login", data={"username": an_admin(stack), "password": PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ops"
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("eventshop_ops=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ops" in cookie
    page = client.get("/ops")
    assert page.status_code == 200, page.text
    for shown in ('id="consumers"', 'data-name="customers"', 'id="relay"', 'id="models"'):
        assert shown in page.text
    assert "<script" not in page.text
    signed_out = client.post("/ops/logout")
    assert signed_out.status_code == 303
    assert client.get("/ops").status_code == 401


def test_a_wrong_password_or_a_customer_gets_no_cookie(stack: Stack) -> None:
    wrong = browser(stack).post(
        "/ops/login", data={"username": an_admin(stack), "password": "not-the-password"}
    )
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    assert "set-cookie" not in wrong.headers
    customer = browser(stack).post(
        "/ops/login", data={"username": a_customer(stack), "password": PASSWORD}
    )
    assert customer.status_code == 403 and "set-cookie" not in customer.headers


def test_a_malformed_sign_in_is_a_4xx(stack: Stack) -> None:
    assert browser(stack).post("/ops/login", data={"username": "x"}).status_code == 422
    long = {"username": "x" * 400, "password": "p"}
    assert browser(stack).post("/ops/login", data=long).status_code == 422


def test_the_command_api_out_of_reach_is_a_503_with_retry_after(stack: Stack) -> None:
    app = stack.queries.app
    saved = app.state.ops_login_url  # type: ignore[attr-defined]
    app.state.ops_login_url = f"http://127.0.0.1:{free_port()}"  # type: ignore[attr-defined]
    try:
        answer = browser(stack).post("/ops/login", data={"username": "a@b.c", "password": "p"})
    finally:
        app.state.ops_login_url = saved  # type: ignore[attr-defined]
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"


def test_a_rebuild_records_its_progress_and_the_page_shows_it_while_it_runs(stack: Stack) -> None:
    a_customer(stack)
    wiring.rebuilder(stack.settings, "customers").run()
    [(done, total, state)] = stack.sql(
        "SELECT rebuild_done, rebuild_total, state FROM {rm}.read_model_versions"
        " WHERE projection = 'customers'"
    )
    assert state == "live" and done == total and total > 0
    stack.sql(  # as a rebuild of sales a quarter of the way through looks
        "UPDATE {rm}.read_model_versions SET state = 'rebuilding', rebuild_done = 50,"
        " rebuild_total = 200 WHERE projection = 'sales'"
    )
    try:
        bearer = {"Authorization": f"Bearer {login(stack.commands, an_admin(stack))}"}
        page = browser(stack).get("/ops", headers=bearer).text
    finally:
        stack.sql("UPDATE {rm}.read_model_versions SET state = 'live' WHERE projection = 'sales'")
    row = page[page.index('data-model="sales"') :]
    assert "rebuilding" in row[:400] and "50 / 200 events (25 %)" in row[:400]
