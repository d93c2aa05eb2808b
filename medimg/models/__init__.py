"""Networks built by name from the model section of params (the catalog in medimg/config/catalog.py
says what each one is without importing torch)."""

from medimg.models.registry import build_model

__all__ = ["build_model"]
