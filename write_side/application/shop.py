"""Application services: one method per command, each get → mutate → save.

A method returns a :class:`CommandResult`: the aggregate's id and version and the
consistency token of the events it appended. The commands live in one module per context
(customers, catalog, orders, payments) over a shared base (:mod:`write_side.application.base`);
:class:`Shop` is all of them, one application with one notification log.
"""

from __future__ import annotations

from write_side.application.catalog import CatalogCommands
from write_side.application.customers import CustomerCommands
from write_side.application.erasure import ErasureCommands
from write_side.application.orders import OrderCommands
from write_side.application.payments import PaymentCommands
from write_side.application.types import (
    NO_CONTEXT,
    CommandContext,
    CommandResult,
    ConcurrencyConflictError,
    InvalidCredentialsError,
    LineRequest,
    NotFoundError,
    OutOfStockError,
    PasswordHasher,
    PaymentDeclinedError,
    PaymentGatewayFailedError,
    PaymentPendingError,
    PreconditionFailedError,
)

__all__ = [
    "NO_CONTEXT",
    "CommandContext",
    "CommandResult",
    "ConcurrencyConflictError",
    "InvalidCredentialsError",
    "LineRequest",
    "NotFoundError",
    "OutOfStockError",
    "PasswordHasher",
    "PaymentDeclinedError",
    "PaymentGatewayFailedError",
    "PaymentPendingError",
    "PreconditionFailedError",
    "Shop",
]


class Shop(CustomerCommands, ErasureCommands, CatalogCommands, OrderCommands, PaymentCommands):
    """The commerce write model. Its one notification log is the relay's outbox."""

    name = "Shop"
