"""Pipeline steps in flow order: demo_data, ingest, preprocess, train, evaluate, export.

Each module exposes one plain function ``run_<step>(params, paths)`` that reads its inputs from
disk, writes its outputs atomically and returns a small dict of paths and figures. Neither Prefect
nor DVC appears here: the CLI (for dvc.yaml) and flows/ call these same functions.
"""
