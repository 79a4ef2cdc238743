"""The Customer aggregate."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from write_side.domain.claims import normalize_email
from write_side.domain.errors import CustomerErasedError, InvalidValueError

ROLES = ("customer", "admin")
#: What an erased customer's personal fields read as (contracts.personal.ERASED).
ERASED = "erased"


def _checked_email(email: str) -> str:
    email = normalize_email(email)
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise InvalidValueError(f"not an email address: {email!r}")
    return email


def _checked_name(name: str) -> str:
    if not name.strip():
        raise InvalidValueError("name must not be blank")
    return name.strip()


class Customer(Aggregate):
    #: Forgotten (right to erasure): no command changes them again.
    erased = False

    class Registered(Aggregate.Created):
        email: str
        name: str
        role: str

    class Renamed(Aggregate.Event):
        name: str

    class EmailChanged(Aggregate.Event):
        email: str

    class Erased(Aggregate.Event):
        by: str

    @classmethod
    def register(cls, *, email: str, name: str, role: str = "customer") -> Customer:
        if role not in ROLES:
            raise InvalidValueError(f"unknown role {role!r}")
        return cls(email=_checked_email(email), name=_checked_name(name), role=role)

    @event(Registered)
    def __init__(self, email: str, name: str, role: str) -> None:
        self.email = email
        self.name = name
        self.role = role

    def rename(self, name: str) -> None:
        self._not_erased()
        name = _checked_name(name)
        if name != self.name:
            self._renamed(name=name)

    @event(Renamed)
    def _renamed(self, name: str) -> None:
        self.name = name

    def change_email(self, email: str) -> None:
        self._not_erased()
        email = _checked_email(email)
        if email != self.email:
            self._email_changed(email=email)

    @event(EmailChanged)
    def _email_changed(self, email: str) -> None:
        self.email = email

    def erase(self, by: str) -> None:
        """Forget them: once only (a repeat changes nothing)."""
        if not self.erased:
            self._erased(by=by)

    @event(Erased)
    def _erased(self, by: str) -> None:
        self.erased = True
        self.email = ERASED
        self.name = ERASED

    def _not_erased(self) -> None:
        if self.erased:
            raise CustomerErasedError(str(self.id))
