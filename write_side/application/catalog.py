"""Catalog and inventory commands: create, change, publish, archive, adjust stock."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from write_side.application.base import ShopBase, use_case
from write_side.application.types import (
    NO_CONTEXT,
    CommandContext,
    CommandResult,
    ConcurrencyConflictError,
)
from write_side.domain.claims import SkuClaim
from write_side.domain.errors import (
    SkuTakenError,
)
from write_side.domain.product import Product


class CatalogCommands(ShopBase):
    # Catalog and inventory

    @use_case()
    def create_product(
        self,
        *,
        sku: str,
        title: str,
        price: int,
        description: str = "",
        categories: Sequence[str] = (),
        ctx: CommandContext = NO_CONTEXT,
    ) -> CommandResult:
        product = Product.create(
            sku=sku, title=title, price=price, description=description, categories=categories
        )
        claim = SkuClaim(sku=product.sku, product_id=product.id)
        # No look-up first: saving the claim's first version is the check (a taken sku
        # conflicts), and a look-up cost every create a pool checkout and a round trip.
        try:
            return self._save(product, claim, subject=product, ctx=ctx)
        except ConcurrencyConflictError as error:
            raise SkuTakenError(product.sku) from error

    @use_case(retries=True)  # commutes: a lost race is re-run, not refused
    def adjust_stock(
        self, product_id: UUID, *, delta: int, reason: str = "", ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        product = self._get(Product, product_id, ctx.expected_version)
        product.adjust_stock(delta, reason)
        return self._save(product, subject=product, ctx=ctx)

    @use_case()
    def change_product(
        self,
        product_id: UUID,
        *,
        title: str | None = None,
        description: str | None = None,
        categories: Sequence[str] | None = None,
        price: int | None = None,
        ctx: CommandContext = NO_CONTEXT,
    ) -> CommandResult:
        product = self._get(Product, product_id, ctx.expected_version)
        product.change_details(title=title, description=description, categories=categories)
        if price is not None:
            product.change_price(price)
        return self._save(product, subject=product, ctx=ctx)

    @use_case()
    def publish_product(
        self, product_id: UUID, *, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        product = self._get(Product, product_id, ctx.expected_version)
        product.publish()
        return self._save(product, subject=product, ctx=ctx)

    @use_case()
    def archive_product(
        self, product_id: UUID, *, ctx: CommandContext = NO_CONTEXT
    ) -> CommandResult:
        product = self._get(Product, product_id, ctx.expected_version)
        product.archive()
        return self._save(product, subject=product, ctx=ctx)
