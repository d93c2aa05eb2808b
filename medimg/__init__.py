"""medimg: raw medical images to a validated, deployable model, reproducibly."""

from medimg.io.quiet import apply_offline_defaults

# before any entry point (the CLI, the flows, a task) imports Prefect, MLflow or DVC
apply_offline_defaults()

__version__ = "0.1.0"
