"""ASIN syntax: validation and extraction from BASE item identifiers."""

from __future__ import annotations

import re

from ecauto_lib.errors import InvalidAsinError

# Amazon ASINs are 10 characters. Non-book ASINs start with "B0" followed by 8 upper-case
# alphanumerics; book ASINs are the ISBN-10 (9 digits and a check digit 0-9 or X).
_ASIN_RE = re.compile(r"^(?:B0[0-9A-Z]{8}|[0-9]{9}[0-9X])$")


def is_asin(value: str) -> bool:
    """True when ``value`` is a well-formed ASIN (upper case, no surrounding spaces)."""
    return bool(_ASIN_RE.match(value))


def normalize_asin(value: object) -> str:
    """Strip and upper-case ``value`` and return it as an ASIN, or raise :class:`InvalidAsinError`."""
    if not isinstance(value, str):
        raise InvalidAsinError(f"ASIN must be a string, got {type(value).__name__}")
    candidate = value.strip().upper()
    if not is_asin(candidate):
        raise InvalidAsinError(
            f"malformed ASIN {value!r}: expected 10 characters, 'B0' + 8 letters/digits or an ISBN-10"
        )
    return candidate


def asin_in_identifier(identifier: str | None) -> str | None:
    """The ASIN a BASE ``identifier`` (商品コード) holds, or ``None``.

    Sellers' listing tools store either the bare ASIN or a ``-``-separated code that contains it
    as one token, e.g. ``b-B0FGQJ45HW-20251120123456``. Exactly one ASIN token must be present;
    an identifier with two different ASIN tokens is ambiguous and yields ``None``.
    """
    if not identifier:
        return None
    tokens = {t.strip().upper() for t in identifier.split("-")}
    found = {t for t in tokens if is_asin(t)}
    return found.pop() if len(found) == 1 else None
