"""Request and response bodies; every limit here is in the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from write_side.domain.order import MAX_LINES, MAX_QUANTITY
from write_side.domain.product import MAX_CATEGORIES, MAX_CATEGORY_LENGTH

MAX_MONEY = 10**12
MAX_STOCK_DELTA = 10**9

Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, Field(min_length=8, max_length=128)]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
Category = Annotated[str, Field(min_length=1, max_length=MAX_CATEGORY_LENGTH)]
#: Stored normalized: lower case, inner whitespace collapsed, each label once.
Categories = Annotated[list[Category], Field(min_length=1, max_length=MAX_CATEGORIES)]
#: The one category of v1 clients, accepted for one more release (docs/api.md).
OneCategory = Annotated[
    str,
    Field(
        max_length=MAX_CATEGORY_LENGTH,
        description='Deprecated: send `categories`. `""` means none.',
        json_schema_extra={"deprecated": True},
    ),
]
Price = Annotated[int, Field(strict=True, ge=0, le=MAX_MONEY)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        """PostgreSQL text cannot hold NUL: refuse it here rather than poison a projector."""
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("must not contain NUL characters")
        return value


class ProductFields(Strict):
    """``categories``, or the deprecated ``category`` (one label, ``""`` for none)."""

    categories: Categories | None = None
    category: OneCategory | None = None

    @model_validator(mode="after")
    def _one_of_the_two(self) -> ProductFields:
        if self.categories is not None and self.category is not None:
            raise ValueError("send categories or the deprecated category, not both")
        return self

    def command(self) -> dict[str, Any]:
        """The use case's arguments: what was sent, the one category as a list."""
        fields = self.model_dump(exclude_unset=True, exclude={"category"})
        if self.category is not None:
            fields["categories"] = [self.category] if self.category else []
        return fields


class RegisterCustomer(Strict):
    email: Email
    name: Name
    password: Password


class ChangeCustomer(Strict):
    name: Name | None = None
    email: Email | None = None


class AccessToken(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class CreateProduct(ProductFields):
    sku: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    title: Title
    description: Description = ""
    price: Price


class ChangeProduct(ProductFields):
    title: Title | None = None
    description: Description | None = None
    price: Price | None = None


class AdjustStock(Strict):
    delta: Annotated[int, Field(strict=True, ge=-MAX_STOCK_DELTA, le=MAX_STOCK_DELTA)]
    reason: Annotated[str, Field(max_length=200)] = ""


class OrderLineRequest(Strict):
    product_id: UUID
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]


class PlaceOrder(Strict):
    lines: Annotated[list[OrderLineRequest], Field(min_length=1, max_length=MAX_LINES)]


class PayOrder(Strict):
    payment_token: Annotated[str, Field(min_length=1, max_length=200)]


class Accepted(BaseModel):
    """Every successful command: the aggregate, its new version and the consistency token."""

    id: UUID
    version: int
    consistency_token: str


class Rewritten(BaseModel):
    aggregate_id: UUID
    version: int
    topic: str


class ErasureReceipt(BaseModel):
    """What erasing a customer did (docs/operations.md, "Personal data")."""

    customer_id: UUID
    erased_at: datetime
    erased_by: str
    #: Where their personal data was, and what happened to it there.
    scrubbed: dict[str, str]
    #: Events written before fields were sealed, whose personal fields were rewritten in
    #: place: the only rewrite of history the system ever does.
    rewritten: list[Rewritten]

    @classmethod
    def of(cls, customer_id: UUID, row: dict[str, Any]) -> ErasureReceipt:
        record = row["record"]
        sealed = record.get("sealed_events", 0)
        rewritten = record.get("rewritten", [])
        return cls(
            customer_id=customer_id,
            erased_at=row["erased_at"],
            erased_by=row["erased_by"],
            scrubbed={
                "customer_keys": "their data key destroyed",
                "event_store": f"{sealed} sealed events now unreadable;"
                f" {len(rewritten)} clear events rewritten in place",
                "email_claim": "released: the address may register again",
                "topics": "their records carry sealed values only: unreadable without the key",
                "read_models": 'customers and orders show "erased" once CustomerErased is applied',
                "mail": "unsent mail discarded; recipient, name and subject scrubbed",
            },
            rewritten=[Rewritten(**r) for r in rewritten],
        )
