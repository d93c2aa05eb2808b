"""What the reliability tests did, for `bench/reliability.py`'s summary table.

When MEDIMG_RELIABILITY_RECORD names a file, each call appends one JSON line to it; otherwise nothing
is written, so a normal test run leaves no trace.
"""

from __future__ import annotations

import json
import os


def record(kind: str, **figures) -> None:
    target = os.environ.get("MEDIMG_RELIABILITY_RECORD")
    if target:
        with open(target, "a") as handle:  # one short line per call: appends do not interleave
            handle.write(json.dumps({"kind": kind, **figures}) + "\n")
