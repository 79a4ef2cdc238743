"""redact() looks for its rules' words before running them: that shortcut must change nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.redaction import redact, scrub

#: What the rules look for, some spelled with Unicode letters that match an ASCII one
#: case-insensitively (long s, Kelvin sign), and what comes after it.
_NAMES = [
    "password",
    "password_hash",
    "passwd",
    "secret",
    "jwt_secret",
    "access_token",
    "token",
    "authorization",
    "Bearer",
    "pa\u017fsword",
    "to\u212aen",
    "\u0130token",
]
_SEPARATORS = ["=", ": ", '": "', "':'", " ", "\t"]
_VALUES = ["hunter2", '"x y"', "'q'", "eyJhbGciOi.eyJzdWIi.c2ln", "$argon2id$v=19$m=65536", ""]
_OTHER = ["eyJ", "$argon2", "&", ",", ".", "GET /products?limit=5 HTTP/1.1", "abc"]


def _secretish(name: str, upper: bool, separator: str, value: str) -> str:
    return f"{name.upper() if upper else name}{separator}{value}"


pieces = st.one_of(
    st.builds(
        _secretish,
        st.sampled_from(_NAMES),
        st.booleans(),
        st.sampled_from(_SEPARATORS),
        st.sampled_from(_VALUES),
    ),
    st.sampled_from(_OTHER),
    st.text(max_size=4),
)
texts = st.lists(pieces, max_size=6).map("".join)


@settings(max_examples=1000, deadline=None)
@given(texts)
def test_the_shortcut_gives_what_the_rules_give(text: str) -> None:
    assert redact(text) == scrub(text)


def test_an_ordinary_access_line_is_returned_as_it_is() -> None:
    line = '127.0.0.1:41234 - "GET /products/0b6f?limit=20 HTTP/1.1" 200'
    assert redact(line) is line
