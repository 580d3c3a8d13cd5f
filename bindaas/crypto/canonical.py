"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) so that every party hashes the same bytes."""

from __future__ import annotations

from typing import Any

import rfc8785

from bindaas.errors import InvalidInput


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` per RFC 8785: sorted keys, no whitespace, ECMAScript number formatting, UTF-8.

    Numbers outside the range an IEEE 754 double holds exactly (|n| >= 2**53) have no canonical form; they are
    refused rather than hashed ambiguously.
    """
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise InvalidInput(f"the bundle cannot be canonicalized (RFC 8785): {exc}", field="bundle") from exc
