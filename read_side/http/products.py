"""Catalog queries: search and filter products, and one product with its stock."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace
from enum import StrEnum
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Query

import read_side.queries.lookups as queries
from contracts.rows import CategoryFacets, ProductPage, ProductView
from http_edge.problems import ProblemError, problem_responses
from read_side.http.deps import CatalogRead, Cursor, Limit, Reader, not_found, page_or_422
from read_side.http.validators import NOT_MODIFIED
from read_side.queries.catalog import (
    InvalidFilterError,
    ProductFilter,
    category_facets,
    search_products,
)

T = TypeVar("T")

router = APIRouter(
    tags=["products"], responses={**NOT_MODIFIED, **problem_responses(400, 401, 404, 422, 503)}
)


class ProductSort(StrEnum):
    price = "price"
    price_desc = "-price"
    by_title = "title"
    units_sold_desc = "-units_sold"
    relevance = "relevance"


async def catalog_filter(
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    min_price: Annotated[int | None, Query(ge=0)] = None,
    max_price: Annotated[int | None, Query(ge=0)] = None,
    in_stock: bool | None = None,
) -> ProductFilter:
    """The filters a catalog search and its facets share (:func:`_seen_by` adds whether
    unpublished products are shown: to admins).

    ``async`` though it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    thread, a thread hand-off per search for a few attribute reads."""
    return ProductFilter(
        q=q,
        category=category,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
    )


Filters = Annotated[ProductFilter, Depends(catalog_filter)]


def _is_admin(read: Reader) -> bool:
    return read.claims is not None and read.claims.role == "admin"


def _seen_by(read: Reader, filters: ProductFilter) -> ProductFilter:
    """Admins see unpublished products too."""
    return replace(filters, include_unpublished=_is_admin(read))


async def _or_422(answer: Awaitable[T]) -> T:
    try:
        return await answer
    except InvalidFilterError as error:
        raise ProblemError(422, "INVALID_FILTER", str(error)) from error


@router.get("/products")
async def list_products(
    filters: Filters,
    read: CatalogRead,
    limit: Limit = 20,
    cursor: Cursor = None,
    sort: ProductSort | None = None,
) -> ProductPage:
    product_filter = replace(_seen_by(read, filters), sort=sort.value if sort else None)
    return await _or_422(
        read(
            lambda conn: page_or_422(
                search_products(
                    conn,
                    read.ctx.schema,
                    product_filter,
                    limit=limit,
                    cursor=cursor,
                    cursors=read.ctx.cursors,
                )
            )
        )
    )


@router.get("/products/categories")  # before /products/{product_id}, which it would match
async def list_categories(filters: Filters, read: CatalogRead) -> CategoryFacets:
    """Facets: the category labels of the products these filters select, with counts."""
    return await _or_422(
        read(lambda conn: category_facets(conn, read.ctx.schema, _seen_by(read, filters)))
    )


@router.get("/products/{product_id}")
async def get_product(product_id: UUID, read: CatalogRead) -> ProductView:
    everything = _is_admin(read)
    found = await read(
        lambda conn: queries.get_product(
            conn, read.ctx.schema, product_id, include_unpublished=everything
        )
    )
    if found is None:
        raise not_found("product", product_id)
    return found
