"""Why one input item cannot be used: a machine-readable code and a sentence for people."""

from __future__ import annotations


class ItemProblem(ValueError):
    """Quarantines one item (series, picture, mask) with ``code`` and ``reason``; the run goes on."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason
