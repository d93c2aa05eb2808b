"""Files and digests every step shares: atomic writes, volumes, pictures, masks, dataset.json,
content and code digests, and the error types."""
