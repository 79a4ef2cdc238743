"""Customer registration on in-memory persistence."""

from __future__ import annotations

import pytest

from write_side.application.passwords import Argon2Passwords, HashCost
from write_side.application.shop import InvalidCredentialsError, Shop
from write_side.domain.errors import EmailTakenError, InvalidValueError

PASSWORD = "correct-horse-battery"


def a_shop() -> Shop:
    return Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)))


def test_registering_a_customer_normalizes_the_email() -> None:
    shop = a_shop()
    result = shop.register_customer(email="  Ann@Example.COM ", name=" Ann ", password=PASSWORD)
    customer = shop.get_customer(result.id)
    assert (customer.email, customer.name, customer.role) == ("ann@example.com", "Ann", "customer")
    assert result.version == 1


def test_an_email_is_unique_whatever_its_case() -> None:
    shop = a_shop()
    shop.register_customer(email="ann@example.com", name="Ann", password=PASSWORD)
    with pytest.raises(EmailTakenError):
        shop.register_customer(email="ANN@example.com", name="Another Ann", password=PASSWORD)


@pytest.mark.parametrize(("email", "name"), [("no-at-sign", "Ann"), ("@x", "Ann"), ("a@b", "  ")])
def test_invalid_registrations_are_refused_before_any_event(email: str, name: str) -> None:
    shop = a_shop()
    with pytest.raises(InvalidValueError):
        shop.register_customer(email=email, name=name, password=PASSWORD)
    assert shop.recorder.max_notification_id() is None


class CountingPasswords:
    """A password hasher that counts verifications (a fake: no argon2)."""

    def __init__(self) -> None:
        self.verified: list[str | None] = []

    def hash(self, password: str) -> str:
        return f"hashed:{password}"

    def verify(self, password_hash: str | None, password: str) -> bool:
        self.verified.append(password_hash)
        return password_hash == f"hashed:{password}"


def test_an_unknown_email_costs_a_password_verification_like_a_known_one() -> None:
    passwords = CountingPasswords()
    shop = Shop(passwords=passwords)
    shop.register_customer(email="ann@example.com", name="Ann", password=PASSWORD)
    for email in ("ann@example.com", "nobody@example.com"):
        with pytest.raises(InvalidCredentialsError):
            shop.authenticate(email=email, password="not-the-password")
    assert passwords.verified == ["hashed:" + PASSWORD, None]  # None: the decoy hash
    assert shop.authenticate(email="ann@example.com", password=PASSWORD).name == "Ann"
