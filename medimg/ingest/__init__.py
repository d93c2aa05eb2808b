"""Ingest: raw DICOM, volume files and pictures to NIfTI volumes and the Parquet manifest."""
