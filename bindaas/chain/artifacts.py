"""ABI and bytecode of the contracts, shipped inside the package so no Node toolchain is needed at run time.

They are exported from a Hardhat compile by ``scripts/export-artifacts.js``; a Hardhat test fails when they drift.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from eth_utils import keccak


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """The shipped artifact ``name`` (``abi`` and ``bytecode``)."""
    text = resources.files("bindaas.chain").joinpath("artifacts", f"{name}.json").read_text()
    return json.loads(text)


@cache
def custom_errors() -> dict[bytes, tuple[str, list[str], list[str]]]:
    """Map of 4-byte selector -> (error name, argument types, argument names) over every shipped contract."""
    errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for name in ("AuthorityRegistry", "RecordAnchor", "ModelRegistry", "IdentityRegistry", "ConsentRegistry",
                 "MLDSA65Keys"):
        for item in load_artifact(name)["abi"]:
            if item["type"] == "error":
                types = [arg["type"] for arg in item["inputs"]]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                errors[selector] = (item["name"], types, [arg["name"] for arg in item["inputs"]])
    return errors
