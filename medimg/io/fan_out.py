"""How a caller fans a step's per-item work out elsewhere, without the step knowing where."""

from __future__ import annotations

from collections.abc import Callable

# map_items(fn, items) -> the results in order (the Prefect flow passes one that submits a task per
# series to its Dask cluster; without one, a step uses its own process pool)
MapItems = Callable[[Callable, list], list]
