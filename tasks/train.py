"""Step 3: train one stage (freeze, unfreeze, ...), each fold or one of them.

The recipe is medimg.train.stage; this step hands it the digest of the code its dvc.yaml stage
lists, so a last.pt written by other code is not resumed.
"""

from __future__ import annotations

from pathlib import Path

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.io.fan_out import MapItems
from medimg.pipeline.steps import stage_code_digest
from medimg.train.stage import train_stage

REPO = Path(__file__).resolve().parents[1]


def run_train(
    params: Params,
    paths: ProjectPaths,
    stage_name: str,
    fresh: bool = False,
    fold: int | None = None,
    map_items: MapItems | None = None,
) -> dict:
    """Train ``stage_name`` (every fold, or ``fold``) by medimg.train.stage.train_stage, which
    says what it writes; ``map_items`` trains the folds elsewhere (one Prefect task per fold)."""
    code = stage_code_digest("train", REPO)
    return train_stage(params, paths, stage_name, code, fresh, fold, map_items)
