"""Who is asking the query API: the admin-only dependency (``http_edge.bearer``), and
whether a caller may see what belongs to someone."""

from __future__ import annotations

from http_edge.bearer import AdminCaller
from http_edge.tokens import AccessClaims

__all__ = ["AdminCaller", "may_see"]


def may_see(claims: AccessClaims, owner: object) -> bool:
    return claims.role == "admin" or claims.sub == owner
