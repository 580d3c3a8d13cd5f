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
# In orjson's sorted output, what could differ from RFC 8785: an integral float ("106.0"), an exponent ("1e-05"),
# 16 or more digits in a row (an integer beyond 2**53, or a float past 1e15), and non-ASCII bytes (key order by
# UTF-16 code units). Output with none of these is canonical as it is; a string that merely looks like one of
# them only sends its bundle down the slower, exact path.
_SUSPECT = re.compile(rb"[0-9]\.0(?:[,}\]]|$)|[0-9][eE]|[0-9]{16}")


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
        if direct.isascii() and _SUSPECT.search(direct) is None:
            return direct  # one C pass and one scan, instead of walking the tree in Python first
        return orjson.dumps(_normalize(value), option=_OPTIONS)
    except (_NeedsReference, orjson.JSONEncodeError):
        pass
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise InvalidInput(f"the bundle cannot be canonicalized (RFC 8785): {exc}", field="bundle") from exc
