"""What the application's commands take and answer: context, results, errors."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol
from uuid import UUID

from contracts.causation import EventMeta
from write_side.persistence.recorder import (
    IdempotencyKey,
)


class NotFoundError(LookupError):
    def __init__(self, kind: str, aggregate_id: UUID) -> None:
        super().__init__(f"{kind} {aggregate_id} not found")
        self.kind = kind
        self.aggregate_id = aggregate_id


class ConcurrencyConflictError(Exception):
    """Another command changed the aggregate first; the client may retry."""


class InvalidCredentialsError(Exception):
    """Unknown email or wrong password (deliberately indistinguishable)."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str | None, password: str) -> bool: ...


MIN_PASSWORD_LENGTH = 8
#: Placing or shipping touches several products; under contention on a hot product the
#: whole command is retried this many times before answering 409.
MAX_ATTEMPTS = 40


@dataclass(frozen=True)
class LineRequest:
    product_id: UUID
    quantity: int


class OutOfStockError(Exception):
    """Some lines cannot be reserved; nothing was."""

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        super().__init__("not enough stock for: " + ", ".join(str(x["product_id"]) for x in lines))
        self.lines = lines


class PaymentDeclinedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PaymentPendingError(Exception):
    """The gateway did not answer; the outcome is unknown until the payment is retried."""


class PaymentGatewayFailedError(Exception):
    """The gateway reported an error; nothing was captured; retry, maybe with another token."""


class PreconditionFailedError(Exception):
    """The client's ``If-Match`` version is not the aggregate's current version."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"expected version {expected}, current version is {current}")
        self.expected = expected
        self.current = current


@dataclass(frozen=True)
class CommandContext:
    """What a client says about a command besides its arguments."""

    idempotency: IdempotencyKey | None = None
    #: From ``If-Match``: act only if the aggregate is still at this version.
    expected_version: int | None = None
    #: The customer a customer's own token acts for: the use case treats anyone else's
    #: order or profile as not found (checked before the version, which would tell).
    #: None for admins and for the system.
    acting_for: UUID | None = None
    #: Who and what caused the command (its request id, the token subject); the events
    #: it stores carry it (contracts/causation.py).
    cause: EventMeta | None = None

    def acting(self, customer_id: UUID | None) -> CommandContext:
        return replace(self, acting_for=customer_id)


NO_CONTEXT = CommandContext()


@dataclass(frozen=True)
class CommandResult:
    id: UUID
    version: int
    consistency_token: str

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.id), "version": self.version, "token": self.consistency_token}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommandResult:
        return cls(UUID(data["id"]), int(data["version"]), str(data["token"]))
