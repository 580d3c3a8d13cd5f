"""The independent verifier: checks a record from the bundle a person holds, its receipt, a pinned trust root and
any Ethereum JSON-RPC node, trusting nothing the BinDaaS server says.

It imports only BinDaaS's cryptographic primitives (``bindaas.crypto``) and its own thin JSON-RPC reader, never the
server's store, ledger or API, so a reviewer can see what it trusts. It follows docs/spec.md step by step, and the
JavaScript verifier in ``js/verifier`` implements the same spec independently; both run the shared conformance
vectors (``scripts/conformance_vectors.py``).
"""

from bindaas.verifier.procedure import Check, Report, verify_receipt
from bindaas.verifier.rpc import JsonRpcReader
from bindaas.verifier.trust import TrustRoot

__all__ = ["Check", "JsonRpcReader", "Report", "TrustRoot", "verify_receipt"]
