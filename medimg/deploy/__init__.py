"""Deployment without torch: the bundle, predict, runners per runtime, DICOM SEG and SR results."""
