"""The shared database's address and credentials, from the environment or a git-ignored ``.env``
(the environment wins). The password is never part of a repr, a log line or an error message."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from dotenv import dotenv_values

from medimg.io.problems import InputError

# the variables a team sets; MEDIMG_DB_PASSWORD has no default
DEFAULTS = {
    "MEDIMG_DB_HOST": "127.0.0.1",
    "MEDIMG_DB_PORT": "5432",
    "MEDIMG_DB_USER": "medimg",
    "MEDIMG_PREFECT_DB": "prefect",
    "MEDIMG_MLFLOW_DB": "mlflow",
}


class TeamError(InputError):
    """A team server cannot be reached or refuses us: one line that says which and what to check."""


@dataclass(frozen=True)
class TeamDatabase:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    prefect_db: str = "prefect"
    mlflow_db: str = "mlflow"

    def url(self, database: str, driver: str = "postgresql") -> str:
        """A SQLAlchemy URL with the password in it: for a server's environment, never for output."""
        return (
            f"{driver}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{database}"
        )

    def shown(self, database: str) -> str:
        """The same address without the password, for logs and messages."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def prefect_url(self) -> str:
        return self.url(self.prefect_db, "postgresql+asyncpg")

    @property
    def mlflow_url(self) -> str:
        return self.url(self.mlflow_db, "postgresql+psycopg2")


def team_settings(env_file: str | Path = ".env", environ: dict | None = None) -> dict[str, str]:
    """DEFAULTS, overridden by ``env_file`` (if it exists), overridden by the environment."""
    environ = os.environ if environ is None else environ
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    keys = set(DEFAULTS) | {"MEDIMG_DB_PASSWORD"}
    merged = {**DEFAULTS, **{k: v for k, v in from_file.items() if k in keys}}
    merged.update({k: environ[k] for k in keys if k in environ})
    return merged


def team_database(env_file: str | Path = ".env", environ: dict | None = None) -> TeamDatabase:
    """The shared database from :func:`team_settings`; a TeamError when the password is missing."""
    settings = team_settings(env_file, environ)
    if not settings.get("MEDIMG_DB_PASSWORD"):
        raise TeamError(
            f"MEDIMG_DB_PASSWORD is not set: put it in the environment or in {env_file} "
            "(git ignores .env)"
        )
    try:
        port = int(settings["MEDIMG_DB_PORT"])
    except ValueError:
        raise TeamError(
            f"MEDIMG_DB_PORT must be a port number, not {settings['MEDIMG_DB_PORT']!r}"
        ) from None
    return TeamDatabase(
        settings["MEDIMG_DB_HOST"],
        port,
        settings["MEDIMG_DB_USER"],
        settings["MEDIMG_DB_PASSWORD"],
        settings["MEDIMG_PREFECT_DB"],
        settings["MEDIMG_MLFLOW_DB"],
    )
