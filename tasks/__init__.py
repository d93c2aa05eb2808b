"""Pipeline steps in flow order: demo_data, ingest, preprocess, train, evaluate, export (and promote,
which only the retraining flow runs).

Each module exposes one plain function ``run_<step>(params, paths)`` that reads its inputs from disk,
writes its outputs atomically and returns a small dict of paths and figures. Neither Prefect nor DVC
appears here, and no step imports another: what two steps share lives in the library (medimg/).
medimg/pipeline/steps.py declares the steps; the CLI (for dvc.yaml) and flows/ call them from there.
"""
