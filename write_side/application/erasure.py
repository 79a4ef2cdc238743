"""The right to erasure: forget a customer (docs/operations.md, "Personal data").

One save appends ``CustomerErased`` (and releases their email's claim), destroys their
data key, rewrites in place the personal fields of their events written before fields were
sealed, and records all of it in ``erasures``: one transaction. Everything sealed under the
key, wherever a copy went, reads as ``"erased"`` from then on; consumers scrub their own
tables when ``CustomerErased`` reaches them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier

from contracts.personal import PERSONAL_FIELDS, erased_payload, reveal
from contracts.upcasting import EVENTS_BY_NAME, decode_topic, parse_topic
from write_side.application.base import ShopBase, use_case
from write_side.application.types import NO_CONTEXT, CommandContext, CommandResult
from write_side.domain.claims import EmailClaim
from write_side.domain.customer import Customer
from write_side.persistence.personal_keys import ERASURES_TABLE, Erasure


class ErasureCommands(ShopBase):
    @use_case()
    def erase_customer(
        self, customer_id: UUID, *, by: str, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        """Erase once; a repeat answers with the erasure's result and changes nothing."""
        customer = self._get(Customer, customer_id, ctx.expected_version, ctx.acting_for)
        if customer.erased:
            return CommandResult(customer.id, customer.version, self._token_of(customer))
        erasure = Erasure(customer_id, by)
        emails = self._personal_history(customer_id, erasure)
        changed: list[Aggregate] = [customer]
        for email in emails:
            self._personal_history(EmailClaim.create_id(email), erasure)
        claim = self._find(EmailClaim, EmailClaim.create_id(customer.email))
        if claim is not None and claim.customer_id == customer_id:
            claim.release()  # the address is free to register again
            changed.append(claim)
        customer.erase(by)
        return self._save(*changed, subject=customer, ctx=ctx, erasure=erasure)

    def erasure_receipt(self, customer_id: UUID) -> dict[str, Any] | None:
        """When, by whom, and what was rewritten (None: never erased)."""
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is None:
            return None
        with datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT erased_at, erased_by, record FROM {} WHERE customer_id = %s").format(
                    Identifier(datastore.schema, ERASURES_TABLE)
                ),
                (customer_id,),
            )
            row = curs.fetchone()
        return None if row is None else dict(row)

    def _personal_history(self, aggregate_id: UUID, erasure: Erasure) -> set[str]:
        """Note each event of ``aggregate_id`` holding the customer's personal fields: a
        clear one is rewritten, a sealed one counted. Returns the emails it names."""
        emails: set[str] = set()
        for stored in self.recorder.select_events(aggregate_id):
            name, version = parse_topic(stored.topic)
            if name not in PERSONAL_FIELDS:
                continue
            event = reveal(
                decode_topic(stored.topic, stored.state), aggregate_id, self.keys.key_for_read
            )
            if getattr(event, "customer_id", erasure.customer_id) != erasure.customer_id:
                continue  # a claim's event of whoever holds the address after them
            if isinstance(getattr(event, "email", None), str):
                emails.add(event.email)  # type: ignore[attr-defined]
            if version < EVENTS_BY_NAME[name].schema_version:  # written in clear
                data = erased_payload(orjson.loads(stored.state), name)
                erasure.rewrites.append(
                    (aggregate_id, stored.originator_version, stored.topic, orjson.dumps(data))
                )
            else:
                erasure.sealed_events += 1
        return emails

    def _token_of(self, customer: Customer) -> str:
        """The consistency token of the customer's last event (the erasure, on a repeat)."""
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is None:
            return self._token([], [])
        with datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT topic, notification_id FROM {} WHERE originator_id = %s"
                    " AND originator_version = %s"
                ).format(Identifier(datastore.schema, "shop_events")),
                (customer.id, customer.version),
            )
            row = curs.fetchone()
        if row is None:
            return self._token([], [])
        stored = StoredEvent(customer.id, customer.version, row["topic"], b"")
        return self._token([stored], [row["notification_id"]])
