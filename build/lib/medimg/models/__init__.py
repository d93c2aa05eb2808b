"""Model registry: models are built by name from the model section of params.

``build_model`` is imported lazily so that the params schema can read the torch-free catalog
without importing torch (params are checked in well under a second).
"""


def __getattr__(name: str):
    if name == "build_model":
        from medimg.models.registry import build_model
        return build_model
    raise AttributeError(name)


__all__ = ["build_model"]
