"""The trust root: the chain and the contracts a verifier believes, obtained out of band (docs/spec.md, "Trust
root"), never from a receipt or from the server being checked."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRUST_VERSION = "bindaas-trust/1"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class TrustRoot:
    """Chain id, the three contracts a verifier reads, and the confirmation depth at which an anchor is final."""

    chain_id: int
    authority_registry: str
    record_anchor: str
    identity_registry: str
    confirmations: int = 0

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "TrustRoot":
        """Parse a trust document; raises ValueError naming the field that is wrong."""
        if doc.get("spec") != TRUST_VERSION:
            raise ValueError(f"spec: expected {TRUST_VERSION!r}, got {doc.get('spec')!r}")
        if not isinstance(doc.get("chain_id"), int) or doc["chain_id"] < 1:
            raise ValueError("chain_id: a positive integer is required")
        contracts = doc.get("contracts") or {}
        for name in ("authority_registry", "record_anchor", "identity_registry"):
            if not isinstance(contracts.get(name), str) or not _ADDRESS.match(contracts[name]):
                raise ValueError(f"contracts.{name}: a 20-byte 0x address is required")
        confirmations = doc.get("confirmations", 0)
        if not isinstance(confirmations, int) or confirmations < 0:
            raise ValueError("confirmations: a non-negative integer is required")
        return cls(doc["chain_id"], contracts["authority_registry"].lower(), contracts["record_anchor"].lower(),
                   contracts["identity_registry"].lower(), confirmations)

    @classmethod
    def load(cls, path: Path) -> "TrustRoot":
        return cls.from_json(json.loads(Path(path).read_text()))

    def to_json(self) -> dict[str, Any]:
        return {"spec": TRUST_VERSION, "chain_id": self.chain_id, "confirmations": self.confirmations,
                "contracts": {"authority_registry": self.authority_registry, "record_anchor": self.record_anchor,
                              "identity_registry": self.identity_registry}}
