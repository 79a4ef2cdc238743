"""Who is calling, for rate limits: the token's subject, else the client's address.

``X-Forwarded-For`` is believed only when the peer is a configured trusted proxy;
then the client is the rightmost address in it that is not a trusted proxy itself
(anything to the left of that was written by the client and proves nothing).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request

from contracts.auth import InvalidTokenError, TokenSettings, verify_access_token

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


def bearer_subject(request: Request, tokens: TokenSettings) -> str | None:
    """The subject of a valid bearer token, or None (the route itself answers a bad one)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return str(verify_access_token(token.strip(), tokens).sub)
    except InvalidTokenError:
        return None
