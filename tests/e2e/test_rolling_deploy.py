"""A rolling deploy of the product events' v2 (docs/operations.md, "Rolling deploys"), with
the previous release's real code (tests/support/releases.py) running beside this one.

Consumers first: an old and two new projector processes share each consumer group while this
release's writers store v2 events under load. The old instances park what they cannot read
(ProductCreated v2, ProductDetailsChanged v2) as "needs upgrade"; once the new release
owns every partition it applies them: every read model equals its rebuild from the store,
no dead letter, nothing left parked.

The reverse: the new consumers run while the old release's command API still writes v1
events (one category string); they upcast them, and the new writers then change those
products with v2 commands.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import httpx2
from fastapi.testclient import TestClient

from eventshop import wiring
from eventshop.embedded import free_port
from projections.rebuild.verify import verify
from tests.support.credentials import PASSWORD, login
from tests.support.events import ready
from tests.support.releases import REPOSITORY, previous_release, run_release
from tests.support.stack import Servers, Stack, eventually, running_stack, settings_env

MIXED = ("orders", "customers", "sales")
MODELS = ("products", *MIXED)


def quiet_env(stack: Stack, **values: str) -> dict[str, str]:
    probes = ("RELAY", "PROJECTOR", "SWEEPER", "REACTOR", "COMMAND", "QUERY")
    return {
        **settings_env(stack.settings),
        **{f"EVENTSHOP_{probe}_PROBE_PORT": "0" for probe in probes},
        **values,
    }


@contextmanager
def processes(*started: subprocess.Popen[bytes]) -> Iterator[list[subprocess.Popen[bytes]]]:
    try:
        yield list(started)
    finally:
        for process in started:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def live_owners(stack: Stack, projection: str) -> set[int]:
    rows = stack.sql(
        "SELECT instance FROM {rm}.projector_instances WHERE projection = %s"
        " AND cardinality(partitions) > 0 AND heartbeat_at > now() - interval '6 seconds'",
        projection,
    )
    return {int(instance.rsplit(":", 1)[1]) for (instance,) in rows}


class Convergence:
    """What still keeps the read models from their rebuild; true when nothing does. Its
    repr is what a failed ``eventually`` shows."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def __bool__(self) -> bool:
        return not self.problems

    def __repr__(self) -> str:
        return f"Convergence({self.problems!r})"


def converged(stack: Stack) -> Convergence:
    """Every read model equals its rebuild from the store, and nothing waits."""
    parked = stack.sql(
        "SELECT projection, reason, event_type, schema_version, topic, partition, kafka_offset"
        " FROM {rm}.projection_parked ORDER BY notification_id LIMIT 10"
    )
    problems = [f"parked: {row}" for row in parked]
    for name in MODELS:
        report = verify(wiring.rebuilder(stack.settings, name))
        problems += [f"{name}.{t.table}: {t.differing}" for t in report.tables if not t.equal]
    return Convergence(problems)


def log_tails(logs: Path, lines: int = 40) -> str:
    """The last warnings and errors each release's process logged."""
    tails = []
    for log in sorted(logs.glob("*.log")):
        noted = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if re.search(r"warning|error|exception|traceback|parked|upgrade", line, re.I)
        ]
        tails.append(f"--- {log.name}\n" + "\n".join(noted[-lines:]))
    return "\n".join(tails)


def shopper(stack: Stack, n: int, errors: list[str]) -> None:
    """One client's share of the load, through this release's command API: products in
    several categories (v2 events), renamed (v2), bought, paid, shipped or cancelled."""
    admin = TestClient(stack.admin.app, headers=dict(stack.admin.headers))
    buyer = TestClient(stack.commands.app)
    email = f"r{n}-{uuid4().hex[:6]}@example.com"
    buyer.post("/customers", json={"email": email, "name": f"R{n}", "password": PASSWORD})
    buyer.headers["Authorization"] = f"Bearer {login(buyer, email)}"
    for i in range(6):
        body = {"sku": f"R-{uuid4().hex[:8]}", "title": f"Thing {n}.{i}", "price": 700}
        product = admin.post("/products", json={**body, "categories": ["Rolling", f"c{i}"]})
        pid = product.json()["id"]
        admin.post(f"/products/{pid}/stock", json={"delta": 10})
        admin.post(f"/products/{pid}/publish")
        admin.patch(f"/products/{pid}", json={"title": f"Renamed {n}.{i}", "categories": ["x"]})
        order = buyer.post("/orders", json={"lines": [{"product_id": pid, "quantity": 2}]})
        oid = order.json()["id"]
        if i % 3 == 0:
            buyer.post(f"/orders/{oid}/cancel")
        else:
            buyer.post(f"/orders/{oid}/pay", json={"payment_token": "tok_ok"})
            if i % 3 == 1:
                admin.post(f"/orders/{oid}/ship")
        errors += [r.text for r in (product, order) if r.status_code >= 300]


def test_old_and_new_projectors_share_each_group_while_v2_is_written(
    servers: Servers, tmp_path: Path
) -> None:
    with running_stack(servers) as stack, previous_release(tmp_path / "old") as old:
        stack.start_relay()
        stack.start_projectors("products")  # this release's tables (version 2)
        env = quiet_env(stack)
        args = ["project", *(arg for name in MIXED for arg in ("-p", name))]
        # Three members: each holds one of every topic's three partitions.
        olds = [run_release(old, env, *args, log=tmp_path / "old-0.log")]
        news = [run_release(REPOSITORY, env, *args, log=tmp_path / f"new-{i}.log") for i in (0, 1)]
        with processes(*olds, *news):
            every = {p.pid for p in (*olds, *news)}
            eventually(lambda: live_owners(stack, "orders") == every, timeout=60, interval=0.5)

            errors: list[str] = []
            load = [threading.Thread(target=shopper, args=(stack, n, errors)) for n in range(3)]
            for thread in load:
                thread.start()
            for thread in load:
                thread.join()
            assert not errors, errors

            def old_parked() -> bool:
                # It logs once a minute: the first v2 type it meets (a product's, or since
                # personal fields are sealed, a customer's).
                log = (tmp_path / "old-0.log").read_text()
                return re.search(r"needs upgrade: (Product|Customer)\w+ v2", log) is not None

            eventually(old_parked, timeout=30, interval=0.5)  # the old release, parking
            for process in olds:  # the deploy goes on: the old instances are replaced
                stop(process)
            news_pids = {p.pid for p in news}
            eventually(lambda: live_owners(stack, "orders") == news_pids, timeout=60, interval=0.5)
            try:
                eventually(lambda: converged(stack), timeout=60, interval=1)
            except AssertionError as failed:  # what the processes logged is the evidence
                raise AssertionError(f"{failed}\n{log_tails(tmp_path)}") from None
        dead = stack.sql("SELECT coalesce(sum(dead_lettered), 0) FROM {rm}.projection_positions")
        assert dead == [(0,)]


def test_new_consumers_read_what_the_old_writers_still_write(
    servers: Servers, tmp_path: Path
) -> None:
    with running_stack(servers) as stack, previous_release(tmp_path / "old") as old:
        stack.start_relay()
        stack.start_projectors(*MODELS)
        email = f"old-admin-{uuid4().hex[:6]}@example.com"
        port = free_port()
        env = quiet_env(stack, EVENTSHOP_COMMAND_PORT=str(port), EVENTSHOP_API_WORKERS="1")
        # The old release's admin, as an old deployment has it: this release's writers
        # store customers sealed (v2), which old instances cannot read — the command API is
        # replaced last (docs/operations.md, "Rolling deploys").
        made = run_release(
            old,
            env,
            "admin",
            "create",
            "--email",
            email,
            "--password",
            PASSWORD,
            log=tmp_path / "old-admin.log",
        )
        assert made.wait(timeout=60) == 0, (tmp_path / "old-admin.log").read_text()
        api = f"http://127.0.0.1:{port}"
        with processes(run_release(old, env, "serve", "command", log=tmp_path / "old-api.log")):
            eventually(lambda: ready(f"{api}/readyz"), timeout=60, interval=0.25)
            token = httpx2.post(
                f"{api}/auth/token", data={"username": email, "password": PASSWORD}
            ).json()["access_token"]
            admin = {"Authorization": f"Bearer {token}"}
            written = []
            for i in range(4):  # v1 events, from the old release's write side
                body = {"sku": f"V-{uuid4().hex[:8]}", "title": f"Old {i}", "price": 300}
                created = httpx2.post(
                    f"{api}/products", json={**body, "category": " Lamps"}, headers=admin
                )
                assert created.status_code == 201, created.text
                pid = created.json()["id"]
                httpx2.post(f"{api}/products/{pid}/stock", json={"delta": 4}, headers=admin)
                httpx2.post(f"{api}/products/{pid}/publish", headers=admin)
                if i % 2:
                    changed = {"description": "changed by v1", "category": "Desk lamps"}
                    httpx2.patch(f"{api}/products/{pid}", json=changed, headers=admin)
                written.append(pid)
            stored = stack.sql(
                "SELECT DISTINCT topic FROM {es}.shop_events WHERE topic LIKE 'Product%%'"
            )
            assert {"ProductCreated.v1", "ProductDetailsChanged.v1"} <= {t for (t,) in stored}
            # This release's writers, at the same time, on products of their own.
            assert stack.admin.post(
                "/products",
                json={
                    "sku": f"N-{uuid4().hex[:8]}",
                    "title": "New",
                    "price": 1,
                    "categories": ["lamps"],
                },
            ).is_success
            eventually(lambda: converged(stack), timeout=60, interval=1)
        found = stack.queries.get("/products", params={"category": "lamps", "limit": 100}).json()
        assert {str(p) for p in written[0::2]} <= {item["id"] for item in found["items"]}
        desk = stack.queries.get("/products", params={"category": "desk lamps"}).json()
        assert {item["id"] for item in desk["items"]} == set(written[1::2])
        # The old writers are gone: this release changes the products they created.
        for pid in written:
            patched = stack.admin.patch(f"/products/{pid}", json={"categories": ["Lighting"]})
            assert patched.status_code == 200, patched.text
        eventually(lambda: converged(stack), timeout=60, interval=1)
        lighting = stack.queries.get("/products", params={"category": "lighting"}).json()
        assert {item["id"] for item in lighting["items"]} == set(written)
