"""Where the contracts live: chain id, addresses and the authorities set up at deployment."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Deployment:
    """A deployment of the BinDaaS contracts on one chain."""

    chain_id: int
    registry: str
    anchor: str
    deployed_block: int
    authorities: list[str] = field(default_factory=list)
    models: str | None = None
    identities: str | None = None
    consents: str | None = None
    # The ML-DSA-65 key registry the consent registry verifies patients' signatures with (None: relayed mode).
    mldsa_keys: str | None = None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> "Deployment":
        return cls(**json.loads(Path(path).read_text()))
