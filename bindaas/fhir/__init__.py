"""FHIR R4: validation of submitted bundles, dataset conversion and feature extraction."""
