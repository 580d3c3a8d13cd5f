"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) so that every party hashes the same bytes.

The C-backed ``orjson`` encoder with sorted keys writes RFC 8785 output for the values FHIR carries once
integral floats are written as integers (ECMAScript prints ``106.0`` as ``106``). Anything it could write
differently (exponent-range floats, non-BMP keys, integers beyond 2**53) goes to the reference implementation
``rfc8785``; tests/test_canonical_fast_path.py checks the two agree on generated JSON.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import rfc8785

from bindaas.errors import InvalidInput

_SAFE_INT = 2**53
_OPTIONS = orjson.OPT_SORT_KEYS
# orjson's sorted, compact output is RFC 8785 but for: integral floats ("106.0"; ECMAScript writes "106"),
# exponents ("1e+16", "1.5e-7"), 16 or more digits in a row (an integer beyond 2**53, a float past 1e15), and
# non-ASCII text (RFC 8785 orders keys by UTF-16 code units). The first are rewritten; text with any of the others
# (or a string that looks like one) takes the exact path. The checks search the text's shape, every digit written
# as 0, for literals: a character class scanned over a bundle costs Python's ``re`` ~50 µs, a literal ~3 µs.
_SHAPE = bytes.maketrans(b"123456789", b"000000000")
# A number ends where a value ends: a bare "digit, e" would match inside every FHIR bundle's UUIDs ("5e8e…").
_EXPONENT = re.compile(rb"0e[-+]0+(?:[,}\]]|$)")
_POINT_ZERO = re.compile(rb"\.0(?=[,}\]]|$)")
_DIGITS = frozenset(b"0123456789")


def _integral_floats_as_integers(text: bytes) -> bytes | None:
    """orjson's compact ASCII ``text`` with each integral float written as an integer, as ECMAScript writes it
    ("106.0" -> "106"); None when that cannot be done by rewriting the text: a ".0" after digits inside a string,
    "-0.0" (ECMAScript writes "0"), or an escaped backslash (then a quote's parity is not the count of quotes with
    no backslash before them)."""
    escapes = b"\\" in text  # one byte: a fast scan, where a two-byte needle costs 5 µs a bundle
    if escapes and b"\\\\" in text:
        return None
    escaped_quotes = escapes and b'\\"' in text
    pieces: list[bytes] = []
    last = 0
    outside = True  # whether ``last`` lies outside every string
    for match in _POINT_ZERO.finditer(text):
        point = first = match.start()
        while first > last and text[first - 1] in _DIGITS:
            first -= 1
        if first == point:
            continue  # "a.0": no number
        quotes = text.count(b'"', last, first) - (text.count(b'\\"', last, first) if escaped_quotes else 0)
        outside ^= quotes % 2 == 1
        if not outside or (text[first] == 0x30 and (point - first > 1 or text[first - 1] == 0x2D)):
            return None
        pieces.append(text[last:point])
        last = match.end()
    pieces.append(text[last:])
    return b"".join(pieces)


def _exponent_or_long_number(text: bytes) -> bool:
    """Whether ``text`` holds an exponent or 16 digits in a row (or a string that looks like one)."""
    shape = text.translate(_SHAPE)
    return b"0" * 16 in shape or _EXPONENT.search(shape) is not None


class _NeedsReference(Exception):
    pass


def _normalize(value: Any) -> Any:
    """Integral floats -> int; raise _NeedsReference where orjson's output could differ from RFC 8785."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_SAFE_INT < value < _SAFE_INT:
            return value
        raise _NeedsReference
    if kind is float:
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
        magnitude = abs(value)
        if 1e-4 <= magnitude < 1e15:
            return value
        raise _NeedsReference
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                raise _NeedsReference  # RFC 8785 sorts by UTF-16 code units; orjson by UTF-8 bytes
            out[key] = _normalize(item)
        return out
    if kind is list:
        return [_normalize(item) for item in value]
    raise _NeedsReference


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` per RFC 8785: sorted keys, no whitespace, ECMAScript number formatting, UTF-8.

    Numbers outside the range an IEEE 754 double holds exactly (|n| >= 2**53) have no canonical form; they are
    refused rather than hashed ambiguously.
    """
    try:
        direct = orjson.dumps(value, option=_OPTIONS)
        if direct.isascii():  # one C pass and a few scans, instead of walking the tree in Python first
            rewritten = _integral_floats_as_integers(direct)  # FHIR quantities parsed as floats: "106.0"
            if rewritten is not None and not _exponent_or_long_number(rewritten):
                return rewritten
        return orjson.dumps(_normalize(value), option=_OPTIONS)
    except (_NeedsReference, orjson.JSONEncodeError):
        pass
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise InvalidInput(f"the bundle cannot be canonicalized (RFC 8785): {exc}", field="bundle") from exc
