"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) so that every party hashes the same bytes."""

from __future__ import annotations

from typing import Any

import rfc8785


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` per RFC 8785: sorted keys, no whitespace, ECMAScript number formatting, UTF-8."""
    return rfc8785.dumps(value)
