"""Canonical JSON, digests, ML-DSA-65 keys and Merkle trees: everything BinDaaS hashes or signs."""
