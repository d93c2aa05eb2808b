"""Talking to a PACS over DICOMweb: find studies (QIDO-RS), pull them (WADO-RS), store results
(STOW-RS), and remember which studies the watcher has answered. Torch-free, like deploy."""
