"""What is wrong with the input, as opposed to a bug: the error types the command line shows as one line.

``InputError`` is input a user can fix (a file, a folder, a params key, a bundle, a server): its
message names the thing and the reason. ``ItemProblem`` is one unusable item (a series, a picture, a
mask), which is quarantined while the run goes on. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class InputError(Exception):
    """Input a user can fix; the message names the file, folder or key and says why."""


class MissingInput(InputError, FileNotFoundError):
    """A file or folder a step needs is not there (run the step that makes it, or fix the path)."""


class ItemProblem(ValueError):
    """Quarantines one item (series, picture, mask) with ``code`` and ``reason``; the run goes on."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason
