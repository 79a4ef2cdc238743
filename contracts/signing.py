"""Opaque strings the server hands out and must recognise again: HMAC-signed, URL-safe.

Consistency tokens and pagination cursors travel through clients. Each carries a
truncated HMAC-SHA256 over its body with a key derived from the server secret for that
one purpose, so a client can neither forge one nor move one from one use to another.
The keys come from the access-token secret: one secret to rotate, several keys.
"""

from __future__ import annotations

import base64
import binascii
import hmac

_TAG_BYTES = 16


class BadSignatureError(ValueError):
    """Not something this server signed (altered, forged, or signed with another key)."""


def derive_key(secret: str, purpose: str) -> bytes:
    """A key for one ``purpose`` only: HMAC(secret, purpose)."""
    return hmac.digest(secret.encode(), b"eventshop/" + purpose.encode(), "sha256")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(body: bytes, key: bytes) -> str:
    """``base64url(body).base64url(tag)``, no padding."""
    tag = hmac.digest(key, body, "sha256")[:_TAG_BYTES]
    return f"{_b64(body)}.{_b64(tag)}"


def unsign(signed: str, key: bytes) -> bytes:
    """The body of a string :func:`sign` made with ``key``; anything else raises."""
    encoded, dot, encoded_tag = signed.partition(".")
    if not dot or not encoded or not encoded_tag:
        raise BadSignatureError("not a signed value")
    try:
        body, tag = _unb64(encoded), _unb64(encoded_tag)
    except (binascii.Error, ValueError) as error:
        raise BadSignatureError("not a signed value") from error
    expected = hmac.digest(key, body, "sha256")[:_TAG_BYTES]
    if not hmac.compare_digest(tag, expected):
        raise BadSignatureError("signature does not match")
    return body
