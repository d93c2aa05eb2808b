"""Pseudonymous keys: salted HMACs of DICOM identifiers, so no clear identifier reaches an output.

The salt is the site's secret. It comes from an environment variable, or from a git-ignored file
that is generated on first use; there is deliberately no shared default.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from medimg.io import atomic
from medimg.io.problems import InputError

KEY_HEX_CHARS = 16


def load_salt(env_var: str, salt_file: str | Path) -> bytes:
    """The salt from ``env_var`` if set, else from ``salt_file`` (created with 32 random bytes)."""
    from_env = os.environ.get(env_var)
    if from_env:
        return from_env.encode("utf-8")
    path = Path(salt_file)
    if not path.exists():
        atomic.write_text(path, secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    salt = path.read_text().strip()
    if len(salt) < 16:
        raise InputError(f"{path}: salt is too short ({len(salt)} chars); delete it to regenerate")
    return salt.encode("utf-8")


def pseudonym(salt: bytes, kind: str, value: str) -> str:
    """A stable, non-reversible key for ``value``; ``kind`` separates patient, study and series keys."""
    digest = hmac.new(salt, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind[:2]}{digest[:KEY_HEX_CHARS]}"
