"""Personal fields sealed per customer, and erasure, on the library's in-memory store.

What crosses PostgreSQL and the broker (keys destroyed in the events' transaction, clear
history rewritten, topics, read models, mail, a rebuild) is proved in
tests/e2e/test_erasure.py; here: the cipher, the write side's sealing and the erase command.
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from contracts.personal import (
    ERASED,
    TamperedValueError,
    new_key,
    seal,
    unseal,
)
from write_side.application.passwords import Argon2Passwords, HashCost
from write_side.application.shop import InvalidCredentialsError, LineRequest, NotFoundError, Shop
from write_side.application.types import CommandContext
from write_side.domain.errors import CustomerErasedError


@pytest.fixture
def shop() -> Shop:
    return Shop(passwords=Argon2Passwords(HashCost(1, 8, 1)), token_key=b"k" * 32)


def stored_bytes(shop: Shop) -> bytes:
    notifications = shop.recorder.select_notifications(start=1, limit=10_000)
    return b"\n".join(n.state for n in notifications)


def test_a_sealed_value_opens_only_under_its_owners_key() -> None:
    key, owner = new_key(), uuid4()
    sealed = seal(key, owner, "ann@example.com")
    assert "ann" not in sealed and sealed != seal(key, owner, "ann@example.com")  # a nonce each
    assert unseal(key, owner, sealed) == "ann@example.com"
    assert unseal(None, owner, sealed) == ERASED  # the key is gone: erased, not an error
    assert unseal(key, owner, "clear text") == "clear text"  # written before sealing
    with pytest.raises(TamperedValueError):
        unseal(key, uuid4(), sealed)  # moved to another customer's event
    with pytest.raises(TamperedValueError):
        unseal(new_key(), owner, sealed)
    with pytest.raises(TamperedValueError):
        unseal(key, owner, sealed[:-3] + ("AAA" if not sealed.endswith("AAA") else "BBB"))


def test_the_store_holds_no_personal_field_in_clear(shop: Shop) -> None:
    ann = shop.register_customer(email="ann@example.com", name="Ann Quill", password="pw-1234567")
    shop.change_customer(ann.id, name="Ann Quillfeather", email="ann.q@example.com")
    held = stored_bytes(shop)
    for clear in (b"ann@example.com", b"Ann Quill", b"ann.q@example.com", b"Quillfeather"):
        assert clear not in held
    customer = shop.get_customer(ann.id)
    assert (customer.email, customer.name) == ("ann.q@example.com", "Ann Quillfeather")
    assert shop.authenticate(email="ann.q@example.com", password="pw-1234567").id == ann.id


def test_erase_forgets_frees_the_email_and_stops_sign_in(shop: Shop) -> None:
    ann = shop.register_customer(email="ann@example.com", name="Ann", password="pw-1234567")
    erased = shop.erase_customer(ann.id, by="customer")
    customer = shop.get_customer(ann.id)
    assert (customer.email, customer.name, customer.erased) == (ERASED, ERASED, True)
    assert shop.keys.key_for_read(ann.id) is None
    with pytest.raises(InvalidCredentialsError):
        shop.authenticate(email="ann@example.com", password="pw-1234567")
    with pytest.raises(CustomerErasedError):
        shop.change_customer(ann.id, name="Back again")
    again = shop.erase_customer(ann.id, by="customer")
    assert (again.id, again.version) == (erased.id, erased.version)  # nothing appended
    other = shop.register_customer(email="ann@example.com", name="Ann 2", password="pw-1234567")
    assert other.id != ann.id
    assert shop.authenticate(email="ann@example.com", password="pw-1234567").id == other.id


def test_only_the_customer_or_an_admin_erases(shop: Shop) -> None:
    ann = shop.register_customer(email="ann@example.com", name="Ann", password="pw-1234567")
    bob = shop.register_customer(email="bob@example.com", name="Bob", password="pw-1234567")
    with pytest.raises(NotFoundError):
        shop.erase_customer(ann.id, by="customer", ctx=CommandContext(acting_for=bob.id))
    with pytest.raises(NotFoundError):
        shop.erase_customer(uuid4(), by="admin")
    assert shop.get_customer(ann.id).erased is False


def test_an_erased_customers_old_token_places_no_order(shop: Shop) -> None:
    ann = shop.register_customer(email="ann@example.com", name="Ann", password="pw-1234567")
    mug = shop.create_product(sku="MUG-1", title="Mug", price=1200).id
    shop.adjust_stock(mug, delta=5)
    shop.publish_product(mug)
    shop.place_order(ann.id, [LineRequest(mug, 1)])
    shop.erase_customer(ann.id, by="customer")
    with pytest.raises(CustomerErasedError):
        shop.place_order(ann.id, [LineRequest(mug, 1)])
    assert shop.get_product(mug).available == 4  # nothing reserved for them
