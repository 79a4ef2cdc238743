"""A mixed shop workload over HTTP, as the whole-system bench and the chaos runs drive it.

Customers register, admins create and restock products, customers place, pay and cancel
orders, admins ship them; anonymous clients read products by id and search; every placed
order is read back with its consistency token, which measures command-to-visible delay.

Two ways to drive it: :meth:`Shopper.fixed_rate` (open loop: an operation starts every
1/rate seconds whether or not earlier ones finished, and latency counts from when it was
due, so back-pressure cannot hide queueing) and :meth:`Shopper.saturate` (closed loop:
N clients, each starting its next operation when the last one answered).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx2

from bench.tally import DESIGNED, Tally

TOKEN = "X-Consistency-Token"
#: The clients' timeout: an answer later than this is a hang (a transport error), which the
#: strict oracle refuses outside a fault window that kills the serving process.
CLIENT_TIMEOUT_SECONDS = 10.0
PASSWORD = "correct-horse-battery-staple"
#: Relative weights of the operations in the mix (commands first, then queries).
MIX: dict[str, int] = {
    "register": 1,
    "create_product": 3,
    "restock": 6,
    "place_order": 16,
    "pay_order": 10,
    "ship_order": 4,
    "cancel_order": 3,
    "product_by_id": 30,
    "search": 12,
}
COMMANDS = frozenset(list(MIX)[:7])


@dataclass
class Customer:
    email: str
    token: str


class Shopper:
    def __init__(self, command_url: str, query_url: str, seed: int = 7) -> None:
        limits = httpx2.Limits(max_connections=256, max_keepalive_connections=64)
        timeout = CLIENT_TIMEOUT_SECONDS
        self.commands = httpx2.AsyncClient(base_url=command_url, limits=limits, timeout=timeout)
        self.queries = httpx2.AsyncClient(base_url=query_url, limits=limits, timeout=timeout)
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.admin = ""
        self.customers: list[Customer] = []
        self.products: list[str] = []
        self.placed: list[tuple[str, Customer]] = []
        self.paid: list[str] = []

    async def close(self) -> None:
        await self.commands.aclose()
        await self.queries.aclose()

    # Setting up: an admin, logged-in customers, published products with stock

    async def setup(self, admin: tuple[str, str], customers: int = 8, products: int = 20) -> None:
        self.admin = await self._login(*admin)
        for _ in range(customers):
            email = f"c-{uuid4().hex[:10]}@bench.example"
            created = await self._register(email)
            created.raise_for_status()
            self.customers.append(Customer(email, await self._login(email, PASSWORD)))
        published = []
        for _ in range(products):
            product = await self._create_product()
            await self._admin_post(f"/products/{product}/stock", {"delta": 100_000})
            answer = await self._admin_post(f"/products/{product}/publish", {})
            published.append((product, answer.headers.get(TOKEN, "")))
            self.products.append(product)
        # The load reads products by id without a token: each must be visible first, or a
        # read right after setup is a 404 (by design, eventually consistent) the tally
        # would count as undesigned (seen in a chaos case whose projector had just died).
        for product, token in published:
            await self.queries.get(f"/products/{product}", headers={TOKEN: token})

    # Driving

    async def fixed_rate(
        self,
        rate: float,
        seconds: float,
        max_in_flight: int = 400,
        until: asyncio.Event | None = None,
    ) -> Tally:
        """``rate`` operations a second for ``seconds``, or until ``until`` is set."""
        self.tally = Tally()
        start, n = time.perf_counter(), 0
        tasks: set[asyncio.Task[None]] = set()
        while (due := start + n / rate) < start + seconds and not (until and until.is_set()):
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            n += 1
            if len(tasks) >= max_in_flight:
                self.tally.overloaded += 1
                continue
            task = asyncio.create_task(self.one(self._pick(), due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        return self.tally

    async def saturate(self, clients: int, seconds: float) -> Tally:
        self.tally = Tally()
        stop = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < stop:
                await self.one(self._pick(), time.perf_counter())

        await asyncio.gather(*(client() for _ in range(clients)))
        return self.tally

    def _pick(self) -> str:
        return self.rng.choices(list(MIX), weights=list(MIX.values()))[0]

    async def one(self, op: str, due: float) -> None:
        try:
            response = await getattr(self, f"_op_{op}")()
        except httpx2.TransportError as error:
            self.tally.transport_error(op, error)  # a killed worker's connection, a timeout
            return
        if response is None:
            return  # nothing to do yet (no order to pay, say)
        self.tally.record(op, response.status_code, time.perf_counter() - due)
        self.tally.answered(op, response)
        if response.status_code >= 500 and response.status_code not in DESIGNED:
            self.tally.unexpected.append(
                f"{op}: {response.request.method} {response.request.url.path}"
                f" -> {response.status_code} {response.text[:200]}"
            )

    # The operations

    async def _op_register(self) -> httpx2.Response:
        return await self._register(f"r-{uuid4().hex[:12]}@bench.example")

    async def _op_create_product(self) -> httpx2.Response:
        sku = f"B-{uuid4().hex[:10]}"
        body = {"sku": sku, "title": f"Bench {sku}", "categories": ["bench"], "price": 1250}
        return await self._admin_post("/products", body)

    async def _op_restock(self) -> httpx2.Response:
        product = self.rng.choice(self.products)
        return await self._admin_post(f"/products/{product}/stock", {"delta": 3})

    async def _op_place_order(self) -> httpx2.Response:
        customer = self.rng.choice(self.customers)
        lines = [{"product_id": self.rng.choice(self.products), "quantity": 1}]
        placed = await self.commands.post(
            "/orders", json={"lines": lines}, headers=_bearer(customer.token)
        )
        if placed.status_code == 201:
            answered = time.perf_counter()
            order = placed.json()["id"]
            self.placed.append((order, customer))
            await self._read_with_token(order, customer, placed.headers[TOKEN], answered)
        return placed

    async def _op_pay_order(self) -> httpx2.Response | None:
        if not self.placed:
            return None
        order, customer = self.placed.pop(self.rng.randrange(len(self.placed)))
        headers = {**_bearer(customer.token), "Idempotency-Key": uuid4().hex}
        paid = await self.commands.post(
            f"/orders/{order}/pay", json={"payment_token": "tok_ok"}, headers=headers
        )
        if paid.status_code == 200:
            self.paid.append(order)
        return paid

    async def _op_ship_order(self) -> httpx2.Response | None:
        if not self.paid:
            return None
        return await self._admin_post(f"/orders/{self.paid.pop(0)}/ship", {})

    async def _op_cancel_order(self) -> httpx2.Response | None:
        if not self.placed:
            return None
        order, customer = self.placed.pop(self.rng.randrange(len(self.placed)))
        return await self.commands.post(
            f"/orders/{order}/cancel", json={}, headers=_bearer(customer.token)
        )

    async def _op_product_by_id(self) -> httpx2.Response:
        return await self.queries.get(f"/products/{self.rng.choice(self.products)}")

    async def _op_search(self) -> httpx2.Response:
        return await self.queries.get("/products", params={"category": "bench", "limit": 20})

    # Plumbing

    async def _read_with_token(
        self, order: str, customer: Customer, token: str, answered: float
    ) -> None:
        try:
            read = await self.queries.get(
                f"/orders/{order}", headers={**_bearer(customer.token), TOKEN: token}
            )
        except httpx2.TransportError as error:
            self.tally.transport_error("token_read", error)
            return
        self.tally.record("token_read", read.status_code, time.perf_counter() - answered)
        self.tally.answered("token_read", read)
        if read.status_code == 200:
            self.tally.visible.append(time.perf_counter() - answered)
        elif read.status_code not in DESIGNED:
            self.tally.unexpected.append(f"token read of {order} -> {read.status_code}")

    async def _register(self, email: str) -> httpx2.Response:
        body = {"email": email, "name": "Bench", "password": PASSWORD}
        return await self.commands.post("/customers", json=body)

    async def _login(self, email: str, password: str) -> str:
        answer = await self.commands.post(
            "/auth/token", data={"username": email, "password": password}
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    async def _create_product(self) -> str:
        created = await self._op_create_product()
        created.raise_for_status()
        product: str = created.json()["id"]
        return product

    async def _admin_post(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        return await self.commands.post(path, json=body, headers=_bearer(self.admin))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
