"""Model registry: models are built by name from the model section of params."""

from medimg.models.registry import build_model

__all__ = ["build_model"]
