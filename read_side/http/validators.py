"""Conditional GETs: ETags from the read model's positions, 304 on a matching If-None-Match.

An answer of the query API reflects its read model as of the positions the projector has
committed: positions commit in the same transaction as the rows, and every transaction
that changes rows saves a position. So an ETag is computed from the process's latest
position snapshot (:class:`read_side.position_watcher.PositionWatcher`), taken before the rows
are read, without reading or building the body: a digest of the projection's positions
and when each was saved, the method, path and query, and who asks (the Authorization
header: an admin and an anonymous client get different answers at one URL).

A matching ``If-None-Match`` answers 304 before any row is read, but only from a snapshot
younger than ``max_age`` seconds: a revalidation may miss a change committed within that
window (the snapshot's polling interval while requests arrive), as a plain read may lag
the event store. A request with a consistency token is validated only after its wait, on
a snapshot that reflects the token, so a 304 to it is never stale. ETags are weak
(``W/``): equal ETags promise the same content, not the same bytes (gzip, key order).
See docs/operations.md, "HTTP caching".
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from read_side.position_watcher import PositionWatcher

#: For the OpenAPI documents of the routes that answer 304.
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the If-None-Match ETag is current"}
}


@dataclass(frozen=True)
class CatalogCache:
    """What anonymous answers of the public catalog may be cached for (seconds)."""

    max_age: int = 5
    #: None: twice ``max_age``.
    stale_while_revalidate: int | None = None

    def header(self) -> str:
        stale = self.stale_while_revalidate
        stale = 2 * self.max_age if stale is None else stale
        return f"public, max-age={self.max_age}, stale-while-revalidate={stale}"


class NotModifiedError(Exception):
    """Answered as 304 with ``headers`` (ETag, and the cache policy a 200 would carry)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("not modified")
        self.headers = headers


@dataclass(frozen=True)
class Validators:
    watcher: PositionWatcher
    #: A 304 needs a snapshot at most this old (seconds).
    max_age: float = 0.25

    async def check(self, request: Request, response: Response, projection: str) -> None:
        """Set the answer's ETag; raise :class:`NotModifiedError` if the client's is it."""
        conditional = request.headers.get("if-none-match")
        watcher = self.watcher
        snapshot = watcher.current()
        if conditional or snapshot.seq == 0:  # a 304 needs a fresh one; a new process, any
            snapshot = await watcher.fresh(self.max_age)
        if snapshot.seq == 0:
            return  # no positions could be read: no validator to give
        digest = hashlib.blake2b(digest_size=12)
        for part in (
            snapshot.stamp(projection),
            request.method,
            request.url.path,
            request.url.query,
            request.headers.get("authorization", ""),
        ):
            digest.update(part.encode())
            digest.update(b"\0")
        etag = f'W/"{digest.hexdigest()}"'
        response.headers["ETag"] = etag
        fresh = time.monotonic() - snapshot.taken_at <= self.max_age
        if fresh and _matches(conditional, etag):
            raise NotModifiedError(dict(response.headers))


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): ``W/`` is ignored on both sides. ``*`` is
    not honoured (it would need to know the resource exists before reading it): 200."""
    if not if_none_match:
        return False
    mine = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == mine for tag in if_none_match.split(","))
