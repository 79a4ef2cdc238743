"""Product listing: full-text search, filters, sorts and keyset pagination, in plain SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from contracts.events import category_label
from contracts.rows import CategoryFacets, ProductPage, ProductView
from read_side.queries.cursors import (
    CursorCodec,
    InvalidCursorError,
    as_int,
    as_number,
    as_text,
    as_uuid,
)
from read_side.queries.lookups import PRODUCT_COLUMNS

Sort = Literal["price", "-price", "title", "-units_sold", "relevance"]

#: sort → (SQL expression, descending?). Every order ends with id, so pages are stable.
_SORTS: dict[str, tuple[sql.SQL, bool]] = {
    "price": (sql.SQL("price"), False),
    "-price": (sql.SQL("price"), True),
    "title": (sql.SQL("title"), False),
    "-units_sold": (sql.SQL("units_sold"), True),
    "relevance": (sql.SQL("ts_rank(search, websearch_to_tsquery('english', %(q)s))"), True),
    "sku": (sql.SQL("sku"), False),
}
#: The type a cursor's sort value must have for each sort.
_SORT_VALUE: dict[str, Callable[[Any], Any]] = {
    "price": as_int,
    "-price": as_int,
    "title": as_text,
    "-units_sold": as_int,
    "relevance": as_number,
    "sku": as_text,
}


class InvalidFilterError(ValueError):
    """Filters that cannot be combined (relevance without a query, min above max…)."""


@dataclass(frozen=True)
class ProductFilter:
    q: str | None = None
    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    sort: str | None = None
    include_unpublished: bool = False


async def search_products(
    conn: AsyncConnection[Any],
    schema: str,
    f: ProductFilter,
    *,
    limit: int,
    cursor: str | None,
    cursors: CursorCodec,
) -> ProductPage:
    sort = f.sort or ("relevance" if f.q else "sku")
    if sort == "relevance" and not f.q:
        raise InvalidFilterError("sort=relevance needs a search query q")
    expression, descending = _SORTS[sort]
    params: dict[str, Any] = {"q": f.q, "limit": limit + 1}
    conditions = _where(f, params)
    if cursor:
        value, last_id = _decode(cursors, cursor, sort)
        params |= {"after": value, "after_id": last_id}
        after = (
            "({}, id) < (%(after)s, %(after_id)s)"
            if descending
            else "({}, id) > (%(after)s, %(after_id)s)"
        )
        conditions.append(sql.SQL(after).format(expression))
    order = sql.SQL("DESC" if descending else "ASC")
    statement = sql.SQL(
        "SELECT {columns}, {expression} AS sort_key FROM {schema}.products WHERE {where}"
        " ORDER BY sort_key {order}, id {order} LIMIT %(limit)s"
    ).format(
        columns=PRODUCT_COLUMNS,
        expression=expression,
        schema=sql.Identifier(schema),
        where=sql.SQL(" AND ").join(conditions),
        order=order,
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        rows = await cur.fetchall()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = cursors.encode([sort, page[-1]["sort_key"], str(page[-1]["id"])])
    return ProductPage(items=[ProductView.model_validate(r) for r in page], next_cursor=next_cursor)


async def category_facets(
    conn: AsyncConnection[Any], schema: str, f: ProductFilter
) -> CategoryFacets:
    """How many of the products ``f`` selects carry each category label."""
    params: dict[str, Any] = {"q": f.q}
    statement = sql.SQL(
        "SELECT label AS category, count(*) AS products"
        " FROM {schema}.products, unnest(categories) AS label WHERE {where}"
        " GROUP BY label ORDER BY count(*) DESC, label LIMIT 100"
    ).format(schema=sql.Identifier(schema), where=sql.SQL(" AND ").join(_where(f, params)))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement, params)
        return CategoryFacets.model_validate({"items": await cur.fetchall()})


def _where(f: ProductFilter, params: dict[str, Any]) -> list[sql.Composable]:
    """Conditions from fixed SQL text; every value goes in as a parameter."""
    if f.min_price is not None and f.max_price is not None and f.min_price > f.max_price:
        raise InvalidFilterError("min_price is above max_price")
    conditions: list[sql.Composable] = [
        sql.SQL("TRUE" if f.include_unpublished else "status = 'published'")
    ]
    if f.q:
        conditions.append(sql.SQL("search @@ websearch_to_tsquery('english', %(q)s)"))
    if f.category:
        # Any of its labels; the GIN index on categories answers ``@>``.
        conditions.append(sql.SQL("categories @> ARRAY[%(category)s]::text[]"))
        params["category"] = category_label(f.category)
    if f.min_price is not None:
        conditions.append(sql.SQL("price >= %(min_price)s"))
        params["min_price"] = f.min_price
    if f.max_price is not None:
        conditions.append(sql.SQL("price <= %(max_price)s"))
        params["max_price"] = f.max_price
    if f.in_stock is not None:
        stocked = "on_hand - reserved > 0" if f.in_stock else "on_hand - reserved <= 0"
        conditions.append(sql.SQL(stocked))
    return conditions


def _decode(cursors: CursorCodec, cursor: str, sort: str) -> tuple[Any, Any]:
    cursor_sort, value, last_id = cursors.decode(cursor, 3)
    if cursor_sort != sort:
        raise InvalidCursorError("the cursor belongs to another sort")
    return _SORT_VALUE[sort](value), as_uuid(last_id)
