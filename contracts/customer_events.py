"""The customers' event payloads: published ones (``shop.customers``) and the write side's
internal claims and credentials. Rules as in :mod:`contracts.events`."""

from __future__ import annotations

from uuid import UUID

from contracts.event_base import ContractEvent, Personal


class CustomerRegistered(ContractEvent):
    """v2: ``email`` and ``name`` sealed (v1 held them in clear)."""

    type_name = "CustomerRegistered"
    schema_version = 2
    context = "customers"

    email: Personal
    name: Personal
    role: str = "customer"


class CustomerRenamed(ContractEvent):
    """v2: ``name`` sealed."""

    type_name = "CustomerRenamed"
    schema_version = 2
    context = "customers"

    name: Personal


class CustomerEmailChanged(ContractEvent):
    """v2: ``email`` sealed."""

    type_name = "CustomerEmailChanged"
    schema_version = 2
    context = "customers"

    email: Personal


class CustomerErased(ContractEvent):
    """The customer was forgotten: their key is destroyed, so every sealed value of theirs
    reads as ``"erased"`` from now on. ``by`` says who asked: ``customer``, ``admin:<id>``
    or ``operator``."""

    type_name = "CustomerErased"
    context = "customers"

    by: str


class PasswordSet(ContractEvent):
    """Internal: a customer's credentials. The hash never leaves the event store."""

    type_name = "PasswordSet"
    context = None

    customer_id: UUID
    password_hash: str


class EmailClaimed(ContractEvent):
    """Internal: the email's claim aggregate was taken by ``customer_id``. v2: ``email``
    sealed under that customer's key."""

    type_name = "EmailClaimed"
    schema_version = 2
    context = None

    email: Personal
    customer_id: UUID


class EmailReleased(ContractEvent):
    """Internal: the email is free again (its customer changed address)."""

    type_name = "EmailReleased"
    context = None


class EmailReclaimed(ContractEvent):
    """Internal: a released email was taken again, by ``customer_id``."""

    type_name = "EmailReclaimed"
    context = None

    customer_id: UUID
