"""Medical imaging: DICOM studies as FHIR R4 ImagingStudy records (this round: the mapping; the signed import of
the DICOM objects and the imaging model are still to come)."""
