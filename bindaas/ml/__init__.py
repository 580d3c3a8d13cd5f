"""Phase 2: deep learning as a service on the stored, verified records."""
