"""Step 1: convert data.raw_dir (DICOM at any depth, PNG/JPEG pictures) into NIfTI images and the manifest
in data/interim; the work itself is medimg.ingest.tree."""

from __future__ import annotations

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.ingest import deid
from medimg.ingest.tree import headline_counts, ingest_tree
from medimg.io import atomic
from medimg.io.fan_out import MapItems


def run_ingest(params: Params, paths: ProjectPaths, map_items: MapItems | None = None) -> dict:
    """The pipeline's ingest step: data.raw_dir → data/interim, summary in reports/ingest_summary.json
    and its headline counts in reports/ingest_metrics.json."""
    atomic.sweep_leftovers(paths.interim)  # a killed run's half-written files
    salt = deid.load_salt(params.ingest.salt_env, paths.root / params.ingest.salt_file)
    summary = ingest_tree(
        paths.raw, paths.interim, salt, params.data, params.split, params.ingest, map_items
    )
    report = {k: v for k, v in summary.items() if k != "run"}
    atomic.write_json(paths.reports / "ingest_summary.json", report, unless_equal=True)
    atomic.write_json(
        paths.reports / "ingest_metrics.json", headline_counts(report), unless_equal=True
    )
    return {"manifest": str(paths.manifest), "summary": summary}
