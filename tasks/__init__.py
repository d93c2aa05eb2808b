"""Pipeline steps in flow order: demo_data, ingest, preprocess, train, evaluate, export.

Each module exposes one plain function ``run_<step>(params, paths)`` that reads its inputs from
disk, writes its outputs atomically and returns a small dict of paths and figures. Neither Prefect
nor DVC appears here: the CLI (for dvc.yaml) and flows/ call these same functions.
"""

from collections.abc import Callable

# map_items(fn, items) -> the results in order: how a caller fans a step's per-item work out elsewhere
# (the Prefect flow passes one that submits a task per series to its Dask cluster)
MapItems = Callable[[Callable, list], list]
