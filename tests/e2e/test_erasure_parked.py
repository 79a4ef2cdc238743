"""An erasure that arrives behind a dead letter of its customer scrubs their rows at once
(docs/operations.md, "Personal data"): waiting for the letter's release would leave, for as
long as an operator takes, the name and address opened before the key was destroyed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import uuid4

from psycopg import Cursor

from contracts.envelope import Envelope
from contracts.events import CustomerRenamed
from contracts.personal import ERASED
from projections.models.customers import CUSTOMERS
from tests.support.stack import PASSWORD, Servers, eventually, login, running_stack


def buggy_on_renamed(cur: Cursor[Any], schema: str, env: Envelope, e: CustomerRenamed) -> None:
    raise ValueError("a bug in the rename handler")


def test_an_erasure_parked_behind_a_dead_letter_scrubs_at_once(servers: Servers) -> None:
    with running_stack(servers) as stack:
        stack.start_relay()
        stack.start_projectors(
            custom=replace(
                CUSTOMERS, handlers={**CUSTOMERS.handlers, CustomerRenamed: buggy_on_renamed}
            )
        )
        email = f"parked-{uuid4().hex[:8]}@example.com"
        made = stack.commands.post(
            "/customers", json={"email": email, "name": "Pia Parked", "password": PASSWORD}
        )
        customer = made.json()["id"]
        auth = {"Authorization": f"Bearer {login(stack.commands, email)}"}
        renamed = stack.commands.patch(
            f"/customers/{customer}", json={"name": "Pia Renamed"}, headers=auth
        )
        assert renamed.status_code == 200, renamed.text
        eventually(lambda: stack.positions("customers")["dead_lettered"] == 1)
        assert stack.sql("SELECT name FROM {rm}.customers WHERE id = %s", customer) == [
            ("Pia Parked",)
        ]

        assert stack.commands.delete(f"/customers/{customer}", headers=auth).status_code == 200
        eventually(
            lambda: (
                stack.sql("SELECT email, name FROM {rm}.customers WHERE id = %s", customer)
                == [(ERASED, ERASED)]
            )
        )
        parked = stack.sql(
            "SELECT event_type, reason FROM {rm}.projection_parked WHERE aggregate_id = %s"
            " ORDER BY version",
            customer,
        )
        assert [t for t, _ in parked] == ["CustomerRenamed", "CustomerErased"], parked
