"""Password hashing (argon2) and access-token issuing (PyJWT) for the command side."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from http_edge.tokens import ALGORITHMS, TokenSettings


@dataclass(frozen=True)
class HashCost:
    """argon2id parameters; the defaults are argon2-cffi's (RFC 9106 low-memory profile)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


class HashingBusyError(RuntimeError):
    """As many password hashes run in this process as it allows; try again shortly."""


class Argon2Passwords:
    """argon2id, at most ``max_concurrent`` hashes at a time in this process.

    Each hash takes ``memory_kib`` (64 MiB by default): without a cap, a few dozen
    parallel sign-ins would take gigabytes and every worker thread. Past the cap a call
    fails at once with :class:`HashingBusyError` (503 + Retry-After) instead of queueing.
    """

    def __init__(self, cost: HashCost = HashCost(), max_concurrent: int = 2) -> None:
        self._hasher = PasswordHasher(
            time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
        )
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._decoy: str | None = None

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise HashingBusyError("too many password hashes in progress")
        try:
            yield
        finally:
            self._slots.release()

    def _decoy_hash(self) -> str:
        """Verified against when the email is unknown, so both paths cost the same."""
        if self._decoy is None:
            self._decoy = self._hasher.hash("decoy password")
        return self._decoy

    def hash(self, password: str) -> str:
        with self._slot():
            return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        with self._slot():
            try:
                return self._hasher.verify(password_hash or self._decoy_hash(), password) and bool(
                    password_hash
                )
            except (VerificationError, InvalidHashError):
                return False


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def issue_access_token(
    settings: TokenSettings, subject: UUID, role: str, now: float | None = None
) -> IssuedToken:
    issued_at = int(now if now is not None else time.time())
    claims = {
        "sub": str(subject),
        "role": role,
        "iat": issued_at,
        "exp": issued_at + settings.ttl_seconds,
        "iss": settings.issuer,
        "aud": settings.audience,
    }
    token = jwt.encode(claims, settings.secret, algorithm=ALGORITHMS[0])
    return IssuedToken(token, settings.ttl_seconds)
