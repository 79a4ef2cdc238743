"""The mails the shop sends, rendered from templates (Jinja2: autoescaped HTML, strict
about missing values) with what the events say: each has a plain-text and an HTML part."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr
from uuid import UUID

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from reactors.mailer import Mail

_TEMPLATES = Environment(
    loader=PackageLoader("reactors", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def money(minor_units: int) -> str:
    """``1999`` → ``19.99`` (prices are kept in minor units)."""
    sign = "-" if minor_units < 0 else ""
    whole, cents = divmod(abs(minor_units), 100)
    return f"{sign}{whole:,}.{cents:02d}"


_TEMPLATES.filters["money"] = money


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str


@dataclass(frozen=True)
class Line:
    title: str
    sku: str
    quantity: int
    unit_price: int

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class OrderFacts:
    id: UUID
    lines: tuple[Line, ...]
    total: int


def _mail(kind: str, key: str, to: Recipient, subject: str, **values: object) -> Mail:
    context = {"customer": to, "subject": subject, **values}
    return Mail(
        to=formataddr((to.name, to.email)),
        subject=subject,
        text=_TEMPLATES.get_template(f"{kind}.txt").render(context),
        html=_TEMPLATES.get_template(f"{kind}.html").render(context),
        key=f"{kind}.{key}",
    )


def welcome(key: str, to: Recipient) -> Mail:
    return _mail("welcome", key, to, f"Welcome to eventshop, {to.name}")


def payment_confirmed(key: str, to: Recipient, order: OrderFacts, paid: int) -> Mail:
    subject = f"Order {str(order.id)[:8]} is paid"
    return _mail("paid", key, to, subject, order=order, paid=paid)


def shipped(key: str, to: Recipient, order: OrderFacts) -> Mail:
    return _mail("shipped", key, to, f"Order {str(order.id)[:8]} is on its way", order=order)


def cancelled(key: str, to: Recipient, order: OrderFacts, reason: str, refunded: int) -> Mail:
    what = "expired unpaid" if reason == "expired" else "is cancelled"
    subject = f"Order {str(order.id)[:8]} {what}"
    return _mail(
        "cancelled", key, to, subject, order=order, expired=reason == "expired", refunded=refunded
    )
