"""ASIN syntax: validation and extraction from BASE item identifiers."""

from __future__ import annotations

import re

from ecauto_lib.errors import InvalidAsinError

# Amazon ASINs are 10 characters. Non-book ASINs start with "B0" followed by 8 upper-case
# alphanumerics; book ASINs are the ISBN-10 (9 digits and a check digit 0-9 or X), whose check
# digit must hold: ten digits that fail it are a seller's own numeric code, never a book.
_B0_RE = re.compile(r"^B0[0-9A-Z]{8}$")
_ISBN10_RE = re.compile(r"^[0-9]{9}[0-9X]$")


def is_isbn10(value: str) -> bool:
    """True when ``value`` is an ISBN-10 with a valid check digit (Σ (10 − i) · dᵢ ≡ 0 mod 11, X = 10)."""
    if not _ISBN10_RE.match(value):
        return False
    digits = [10 if c == "X" else int(c) for c in value]
    return sum((10 - i) * d for i, d in enumerate(digits)) % 11 == 0


def is_asin(value: str) -> bool:
    """True when ``value`` is a well-formed ASIN (upper case, no surrounding spaces)."""
    return bool(_B0_RE.match(value)) or is_isbn10(value)


def normalize_asin(value: object) -> str:
    """Strip and upper-case ``value`` and return it as an ASIN, or raise :class:`InvalidAsinError`."""
    if not isinstance(value, str):
        raise InvalidAsinError(f"ASIN must be a string, got {type(value).__name__}")
    candidate = value.strip().upper()
    if _ISBN10_RE.match(candidate) and not is_isbn10(candidate):
        raise InvalidAsinError(
            f"malformed ASIN {value!r}: ten digits, but the ISBN-10 check digit does not hold "
            "(a book's ASIN is its ISBN-10)"
        )
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
