"""medimg: raw medical images to a validated, deployable model, reproducibly."""

__version__ = "0.1.0"
