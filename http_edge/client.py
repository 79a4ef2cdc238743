"""Who is calling, for rate limits: the token's subject, else the client's address.

``X-Forwarded-For`` is believed only when the peer is a configured trusted proxy;
then the client is the rightmost address in it that is not a trusted proxy itself
(anything to the left of that was written by the client and proves nothing).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from starlette.requests import Request

from http_edge.tokens import AccessClaims, InvalidTokenError, TokenSettings, verify_access_token

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(specs: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``127.0.0.1`` …; raises ValueError on a malformed one."""
    return tuple(ipaddress.ip_network(spec.strip(), strict=False) for spec in specs if spec.strip())


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: Request, proxies: tuple[Network, ...]) -> str:
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop[:64]
    return peer


class VerifiedTokens:
    """Tokens this process has verified, until they expire: a client sends the same token
    with every request, and checking its signature again is the most expensive step of a
    cheap query (bench/limits.py). Only valid tokens are kept, so only the server's own
    tokens can fill it; the least recently used go first."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._claims: OrderedDict[tuple[TokenSettings, str], AccessClaims] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str, settings: TokenSettings) -> AccessClaims:
        key = (settings, token)  # the same token under other settings is verified anew
        with self._lock:
            claims = self._claims.get(key)
            if claims is not None:
                self._claims.move_to_end(key)
        if claims is not None and claims.exp > time.time():
            return claims
        claims = verify_access_token(token, settings)
        with self._lock:
            self._claims[key] = claims
            while len(self._claims) > self.size:
                self._claims.popitem(last=False)
        return claims


VERIFIED = VerifiedTokens()


def verified_claims(request: Request, token: str, tokens: TokenSettings) -> AccessClaims:
    """``verify_access_token``, once per request: the limiter and the route share the answer."""
    cache: dict[str, AccessClaims | InvalidTokenError] = request.scope.setdefault(
        "eventshop.verified_tokens", {}
    )
    if token not in cache:
        try:
            cache[token] = VERIFIED.verify(token, tokens)
        except InvalidTokenError as error:
            cache[token] = error
    found = cache[token]
    if isinstance(found, InvalidTokenError):
        raise found
    return found


def bearer_subject(request: Request, tokens: TokenSettings) -> str | None:
    """The subject of a valid bearer token, or None (the route itself answers a bad one)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return str(verified_claims(request, token.strip(), tokens).sub)
    except InvalidTokenError:
        return None
