"""DICOM reading: find files, read headers to plan, group and order series, read volumes."""
