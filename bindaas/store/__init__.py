"""The off-chain store: payloads, salts, signatures and proofs (SQLite by default, any SQLAlchemy URL)."""
