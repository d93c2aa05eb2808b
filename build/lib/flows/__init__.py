"""Prefect flows: compose the steps in tasks/, set retries, schedules and task runners. No image logic."""
