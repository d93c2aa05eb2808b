"""Synthetic but realistic demo data, written as real DICOM and PNG so the demo runs the real code."""
