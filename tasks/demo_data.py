"""Step 0: generate the bundled demo datasets under demo.out_dir (the work is medimg.demo)."""

from __future__ import annotations

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.demo.datasets import generate_demo_datasets


def run_demo_data(params: Params, paths: ProjectPaths) -> dict:
    """Generate every demo dataset under ``demo.out_dir``, deterministically from ``demo.seed``."""
    out = paths.root / params.demo.out_dir
    return {**generate_demo_datasets(params.demo, out), "out_dir": str(out)}
