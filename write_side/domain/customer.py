"""The Customer aggregate."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from write_side.domain.claims import normalize_email
from write_side.domain.errors import InvalidValueError

ROLES = ("customer", "admin")


class Customer(Aggregate):
    class Registered(Aggregate.Created):
        email: str
        name: str
        role: str

    @classmethod
    def register(cls, *, email: str, name: str, role: str = "customer") -> Customer:
        email = normalize_email(email)
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            raise InvalidValueError(f"not an email address: {email!r}")
        if not name.strip():
            raise InvalidValueError("name must not be blank")
        if role not in ROLES:
            raise InvalidValueError(f"unknown role {role!r}")
        return cls(email=email, name=name.strip(), role=role)

    @event(Registered)
    def __init__(self, email: str, name: str, role: str) -> None:
        self.email = email
        self.name = name
        self.role = role
