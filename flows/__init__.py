"""Prefect flows: compose the steps in tasks/, set retries, schedules and task runners. No image logic."""

import medimg  # noqa: F401  (its import sets the quiet offline defaults before Prefect is imported)
