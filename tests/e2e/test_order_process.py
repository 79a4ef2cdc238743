"""On a real `eventshop run`: payments go through the fake gateway service (one for every
process), and an order nobody pays is cancelled as expired by the process manager, its
stock released, within seconds of its deadline."""

from __future__ import annotations

import signal
import subprocess
import sys
from uuid import uuid4

import httpx2

from eventshop.embedded import free_port
from tests.e2e.test_eventshop_run import fleet_env
from tests.support.events import ready
from tests.support.stack import PASSWORD, Servers, eventually

TOKEN = "X-Consistency-Token"


def test_unpaid_orders_expire_and_paid_ones_stay_paid(servers: Servers) -> None:
    admin = (f"admin-{uuid4().hex[:6]}@example.com", f"pw-{uuid4().hex}")
    command, query = free_port(), free_port()
    env = fleet_env(
        servers,
        "expiry",
        command,
        query,
        EVENTSHOP_API_WORKERS="1",
        EVENTSHOP_ORDER_PAYMENT_TIMEOUT_SECONDS="3",
        EVENTSHOP_ADMIN_EMAIL=admin[0],
        EVENTSHOP_ADMIN_PASSWORD=admin[1],
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "eventshop.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    commands, queries = f"http://127.0.0.1:{command}", f"http://127.0.0.1:{query}"
    try:
        eventually(lambda: ready(f"{commands}/readyz"), timeout=60)
        eventually(lambda: ready(f"{queries}/readyz"), timeout=60)
        as_admin = _signed_in(commands, *admin)
        product = httpx2.post(
            f"{commands}/products",
            json={"sku": f"E-{uuid4().hex[:8]}", "title": "Kettle", "price": 1500},
            headers=as_admin,
        ).json()["id"]
        httpx2.post(f"{commands}/products/{product}/stock", json={"delta": 5}, headers=as_admin)
        httpx2.post(f"{commands}/products/{product}/publish", headers=as_admin)
        email = f"buyer-{uuid4().hex[:6]}@example.com"
        httpx2.post(
            f"{commands}/customers", json={"email": email, "name": "B", "password": PASSWORD}
        )
        buyer = _signed_in(commands, email, PASSWORD)
        line = {"lines": [{"product_id": product, "quantity": 2}]}
        unpaid = httpx2.post(f"{commands}/orders", json=line, headers=buyer).json()["id"]
        paid = httpx2.post(f"{commands}/orders", json=line, headers=buyer).json()["id"]
        answer = httpx2.post(
            f"{commands}/orders/{paid}/pay", json={"payment_token": "tok_ok"}, headers=buyer
        )
        assert answer.status_code == 200, answer.text  # through the gateway service

        def order(order_id: str) -> dict[str, object]:
            found: dict[str, object] = httpx2.get(
                f"{queries}/orders/{order_id}", headers=buyer
            ).json()
            return found

        eventually(
            lambda: order(unpaid).get("cancel_reason") == "expired", timeout=30, interval=0.25
        )
        assert order(unpaid)["status"] == "cancelled"
        eventually(
            lambda: httpx2.get(f"{queries}/products/{product}").json().get("available") == 3,
            timeout=15,
        )
        assert order(paid)["status"] == "paid"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0


def _signed_in(commands: str, email: str, password: str) -> dict[str, str]:
    answer = httpx2.post(f"{commands}/auth/token", data={"username": email, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
