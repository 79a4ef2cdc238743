"""Conditional GETs and cache headers on the query API, through the whole path.

ETags come from the read model's positions (read_side/http/validators.py): a 304 answers
a matching If-None-Match without a body; any change to what the answer reflects makes the
old ETag miss; a token read is validated only after its wait.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from uuid import uuid4

import pytest

from tests.support.stack import Servers, Stack, running_stack

TOKEN = "X-Consistency-Token"


@pytest.fixture(scope="module")
def stack(servers: Servers) -> Iterator[Stack]:
    with running_stack(servers, catalog_max_age_seconds=7) as stack:
        stack.start_relay()
        stack.start_projectors("products")
        yield stack


def published(stack: Stack, price: int = 100) -> tuple[str, str]:
    """A new published product's id, and the token of its publication."""
    sku = f"C-{uuid4().hex[:10]}"
    made = stack.admin.post("/products", json={"sku": sku, "title": "Cached", "price": price})
    assert made.status_code == 201, made.text
    done = stack.admin.post(f"/products/{made.json()['id']}/publish")
    assert done.status_code == 200, done.text
    return made.json()["id"], done.headers[TOKEN]


def test_a_matching_if_none_match_answers_304_without_a_body(stack: Stack) -> None:
    product, token = published(stack)
    assert stack.queries.get(f"/products/{product}", headers={TOKEN: token}).status_code == 200
    first = stack.queries.get(f"/products/{product}")
    assert first.status_code == 200, first.text
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')

    again = stack.queries.get(f"/products/{product}", headers={"If-None-Match": etag})

    assert again.status_code == 304, again.text
    assert again.content == b""
    assert again.headers["ETag"] == etag
    # A 304 carries the cache policy the 200 carried (RFC 9110 §15.4.5).
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    other = stack.queries.get(f"/products/{product}", headers={"If-None-Match": 'W/"nope"'})
    assert other.status_code == 200


def test_a_price_change_makes_the_old_etag_miss_and_returns_the_new_price(stack: Stack) -> None:
    product, token = published(stack, price=100)
    etag = stack.queries.get(f"/products/{product}", headers={TOKEN: token}).headers["ETag"]
    assert (
        stack.queries.get(f"/products/{product}", headers={"If-None-Match": etag}).status_code
        == 304
    )

    changed = stack.admin.patch(f"/products/{product}", json={"price": 250})
    assert changed.status_code == 200, changed.text
    read = stack.queries.get(
        f"/products/{product}", headers={TOKEN: changed.headers[TOKEN], "If-None-Match": etag}
    )

    assert read.status_code == 200
    assert read.json()["price"] == 250
    assert read.headers["ETag"] != etag
    assert (
        stack.queries.get(f"/products/{product}", headers={"If-None-Match": etag}).status_code
        == 200
    )


def test_a_token_read_is_never_a_304_of_stale_data(stack: Stack) -> None:
    # The token is sent the moment the command answers, before the projector can have
    # applied it: a validator checked before the token's wait would still match.
    product, token = published(stack, price=100)
    etag = stack.queries.get(f"/products/{product}", headers={TOKEN: token}).headers["ETag"]
    for price in (101, 102, 103):
        changed = stack.admin.patch(f"/products/{product}", json={"price": price})
        read = stack.queries.get(
            f"/products/{product}",
            headers={TOKEN: changed.headers[TOKEN], "If-None-Match": etag},
        )
        assert read.status_code == 200
        assert read.json()["price"] == price
        etag = read.headers["ETag"]


def test_a_page_is_validated_by_the_positions_it_read(stack: Stack) -> None:
    tag = uuid4().hex[:8]
    made = stack.admin.post(
        "/products", json={"sku": f"P-{tag}", "title": f"Page {tag}", "price": 5}
    )
    done = stack.admin.post(f"/products/{made.json()['id']}/publish")
    page = stack.queries.get(f"/products?q={tag}", headers={TOKEN: done.headers[TOKEN]})
    assert [p["title"] for p in page.json()["items"]] == [f"Page {tag}"]
    etag = page.headers["ETag"]
    assert (
        stack.queries.get(f"/products?q={tag}", headers={"If-None-Match": etag}).status_code == 304
    )
    # The same positions, another query: another ETag.
    assert stack.queries.get(f"/products?q={tag}x").headers["ETag"] != etag

    second = stack.admin.post(
        "/products", json={"sku": f"Q-{tag}", "title": f"Page {tag} two", "price": 6}
    )
    shown = stack.admin.post(f"/products/{second.json()['id']}/publish")
    read = stack.queries.get(
        f"/products?q={tag}", headers={TOKEN: shown.headers[TOKEN], "If-None-Match": etag}
    )
    assert read.status_code == 200
    assert len(read.json()["items"]) == 2


def test_anonymous_catalog_answers_are_publicly_cacheable_and_others_are_not(
    stack: Stack,
) -> None:
    product, token = published(stack)
    stack.queries.get(f"/products/{product}", headers={TOKEN: token})
    for path in (f"/products/{product}", "/products"):
        anonymous = stack.queries.get(path)
        assert anonymous.headers["Cache-Control"] == (
            "public, max-age=7, stale-while-revalidate=14"
        )
        vary = {v.strip().lower() for v in anonymous.headers["Vary"].split(",")}
        assert {"authorization", "accept-encoding", TOKEN.lower()} <= vary
        admin = stack.admin_queries.get(path)
        assert admin.status_code == 200
        assert admin.headers["Cache-Control"] == "no-store"
        assert "ETag" in admin.headers  # a private client may still revalidate
        # A token read is answered fresh and is not for anyone else's cache.
        with_token = stack.queries.get(path, headers={TOKEN: token})
        assert with_token.headers["Cache-Control"] == "no-store"


def test_the_admin_and_anonymous_get_different_etags_for_one_url(stack: Stack) -> None:
    product, token = published(stack)
    anonymous = stack.queries.get(f"/products/{product}", headers={TOKEN: token})
    admin = stack.admin_queries.get(f"/products/{product}")
    assert anonymous.headers["ETag"] != admin.headers["ETag"]
    # The anonymous ETag does not stand for the admin's answer.
    crossed = stack.admin_queries.get(
        f"/products/{product}", headers={"If-None-Match": anonymous.headers["ETag"]}
    )
    assert crossed.status_code == 200


def test_large_pages_are_compressed_and_small_answers_are_not(stack: Stack) -> None:
    tag = uuid4().hex[:8]
    for n in range(40):
        stack.admin.post(
            "/products", json={"sku": f"Z-{tag}-{n}", "title": f"Zip {tag} {n}", "price": n + 1}
        )
    last = stack.admin.post("/products", json={"sku": f"Z-{tag}-x", "title": "Zip", "price": 1})
    wait = {TOKEN: last.headers[TOKEN], "Accept-Encoding": "gzip"}
    big = stack.admin_queries.get("/products?limit=100", headers=wait)
    assert big.headers["Content-Encoding"] == "gzip"
    raw = stack.admin_queries.get(
        "/products?limit=100", headers={"Accept-Encoding": "identity", TOKEN: wait[TOKEN]}
    )
    assert "Content-Encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < len(raw.content)
    small = stack.queries.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers


def test_every_validated_route_documents_304(stack: Stack) -> None:
    paths = stack.queries.get("/openapi.json").json()["paths"]
    for path in ("/products", "/products/{product_id}", "/orders/{order_id}", "/customers/me"):
        assert "304" in paths[path]["get"]["responses"], path
