"""Step 4: clinical evaluation of the final stage's best model on the evaluated split.

The work is medimg.evaluate: a classifier's threshold is chosen on val and applied unchanged, every
figure gets a 95% interval by bootstrap over patients, and plot data, figures and a model card
follow; a segmenter is scored per case in millimetres.
"""

from __future__ import annotations

from medimg.config.catalog import CATALOG
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.evaluate.classifier import evaluate_classifier
from medimg.evaluate.postprocessing import NOT_SEGMENTATION
from medimg.evaluate.record import log_evaluation
from medimg.evaluate.segmenter import evaluate_segmenter
from medimg.io import atomic


def run_evaluate(params: Params, paths: ProjectPaths) -> dict:
    """Write reports/metrics.json, evaluation.json, predictions.parquet, plots/*.json, figures/*.png
    and model_card.md, and log them to MLflow."""
    atomic.sweep_leftovers(paths.reports)  # a killed run's half-written files
    segmenter = CATALOG[params.model.name].task == "segmentation"
    evaluation = (evaluate_segmenter if segmenter else evaluate_classifier)(params, paths)
    if not segmenter:
        atomic.write_json(paths.postprocessing, NOT_SEGMENTATION)
    log_evaluation(params, paths, evaluation)
    return {
        "metrics": str(paths.reports / "metrics.json"),
        "model_card": str(paths.reports / "model_card.md"),
        **evaluation.headline,
    }
