"""The shop's mails, rendered from their templates (no server)."""

from __future__ import annotations

from uuid import uuid4

from reactors.mails import Line, OrderFacts, Recipient, cancelled, money, payment_confirmed, welcome

ANN = Recipient("ann@example.com", "Ann")


def an_order() -> OrderFacts:
    lines = (Line("Lamp", "L-1", 2, 1999), Line("Desk <oak>", "D-9", 1, 15000))
    return OrderFacts(uuid4(), lines, 2 * 1999 + 15000)


def test_money_is_shown_in_major_units() -> None:
    assert [money(v) for v in (0, 5, 1999, 123456789, -250)] == [
        "0.00",
        "0.05",
        "19.99",
        "1,234,567.89",
        "-2.50",
    ]


def test_the_welcome_mail_names_the_customer_in_both_parts() -> None:
    mail = welcome("n1", ANN)
    assert mail.to == "Ann <ann@example.com>"
    assert "Ann" in mail.subject
    assert "Hello Ann" in mail.text and "ann@example.com" in mail.text
    assert "Hello Ann" in mail.html and "<html>" in mail.html
    assert mail.key == "welcome.n1"


def test_the_payment_confirmation_lists_lines_and_totals() -> None:
    order = an_order()
    mail = payment_confirmed("n2", ANN, order, paid=order.total)
    assert "2 x Lamp (L-1) at 19.99 = 39.98" in mail.text
    assert "Total: 189.98" in mail.text
    assert "189.98" in mail.html
    # Values are escaped in HTML, never markup: a title cannot inject it.
    assert "Desk &lt;oak&gt;" in mail.html and "<oak>" not in mail.html
    assert "Desk <oak>" in mail.text


def test_an_expired_order_says_so() -> None:
    mail = cancelled("n3", ANN, an_order(), reason="expired", refunded=0)
    assert "expired" in mail.subject and "not paid in time" in mail.text
    assert "refunded" not in mail.text
    refunded = cancelled("n4", ANN, an_order(), reason="", refunded=18998)
    assert "is cancelled" in refunded.subject and "We refunded 189.98." in refunded.text


def test_a_name_with_markup_is_escaped_in_html() -> None:
    mail = welcome("n5", Recipient("x@example.com", "<script>alert(1)</script>"))
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
