"""Who is calling the command API: the shared bearer dependencies (``http_edge.bearer``)
as a :class:`Principal`, which knows whose aggregates it may act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends

from http_edge.bearer import AdminCaller, Caller


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


async def current_principal(claims: Caller) -> Principal:
    return Principal(claims.sub, claims.role)


async def admin_principal(claims: AdminCaller) -> Principal:
    return Principal(claims.sub, claims.role)


Authenticated = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]
