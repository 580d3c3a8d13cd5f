"""The domain: envelopes (build, sign, check), acceptance, anchoring and verification."""
