"""Who is calling the command API: the shared bearer dependencies (``http_edge.bearer``)
as a :class:`Principal`, which knows whose aggregates it may act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from http_edge.bearer import Credentials, claims_of


@dataclass(frozen=True)
class Principal:
    id: UUID
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def acting_for(self) -> UUID | None:
        """Whose aggregates this token may act on: its own customer's, or (admin) anyone's."""
        return None if self.is_admin else self.id


async def admin_principal(request: Request, credentials: Credentials) -> Principal:
    claims = claims_of(request, credentials, "admin")
    assert claims is not None
    return Principal(claims.sub, claims.role)


Admin = Annotated[Principal, Depends(admin_principal)]
