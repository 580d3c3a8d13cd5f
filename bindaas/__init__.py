"""BinDaaS: blockchain-anchored, post-quantum-signed FHIR health records with deep learning as a service."""

__version__ = "0.1.0"
