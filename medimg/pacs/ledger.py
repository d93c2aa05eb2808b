"""Which studies the watcher has answered, by pseudonym only: a small SQLite file.

Every change is one transaction, so a kill leaves the ledger as it was before or after it. A study
is marked done only after its results are on the PACS; a crash before that leaves it not done, and
the next poll answers it again (the results' UIDs make that resend store nothing twice)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_key TEXT PRIMARY KEY,
    state TEXT NOT NULL,          -- working | done | failed
    attempts INTEGER NOT NULL,
    reason TEXT,
    results TEXT,
    updated_utc TEXT NOT NULL
)
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Ledger:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        return closing(sqlite3.connect(self.path, timeout=30, isolation_level=None))

    def _write(self, sql: str, args: tuple) -> None:
        with self._db() as db:
            db.execute(sql, args)

    def row(self, key: str) -> dict | None:
        with self._db() as db:
            db.row_factory = sqlite3.Row
            found = db.execute("SELECT * FROM studies WHERE study_key = ?", (key,)).fetchone()
        return dict(found) if found else None

    def settled(self, key: str, max_attempts: int) -> bool:
        """Done, or failed ``max_attempts`` times: the watcher leaves it alone. A study whose
        attempt was cut short by a crash ('working') is never settled: it is answered again."""
        row = self.row(key)
        return row is not None and (
            row["state"] == "done" or (row["state"] == "failed" and row["attempts"] >= max_attempts)
        )

    def start(self, key: str) -> None:
        self._write(
            "INSERT INTO studies VALUES (?, 'working', 1, NULL, NULL, ?) ON CONFLICT(study_key) "
            "DO UPDATE SET state = 'working', attempts = attempts + 1, updated_utc = excluded.updated_utc",
            (key, _now()),
        )

    def done(self, key: str, results: dict) -> None:
        self._write(
            "UPDATE studies SET state = 'done', reason = NULL, results = ?, updated_utc = ? "
            "WHERE study_key = ?",
            (json.dumps(results), _now(), key),
        )

    def failed(self, key: str, reason: str) -> None:
        self._write(
            "UPDATE studies SET state = 'failed', reason = ?, updated_utc = ? WHERE study_key = ?",
            (reason, _now(), key),
        )

    def counts(self) -> dict[str, int]:
        with self._db() as db:
            rows = db.execute("SELECT state, COUNT(*) FROM studies GROUP BY state").fetchall()
        return dict(rows)
