"""Where each step reads and writes, derived from the data section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medimg.config.schema import Params


@dataclass(frozen=True)
class ProjectPaths:
    root: Path
    raw: Path
    interim: Path
    processed: Path
    models: Path
    reports: Path
    artifacts: Path

    @classmethod
    def from_params(cls, params: Params, root: str | Path = ".") -> ProjectPaths:
        root = Path(root)
        d = params.data
        return cls(
            root=root,
            raw=root / d.raw_dir,
            interim=root / d.interim_dir,
            processed=root / d.processed_dir,
            models=root / d.models_dir,
            reports=root / d.reports_dir,
            artifacts=root / d.artifacts_dir,
        )

    @property
    def volumes(self) -> Path:
        return self.interim / "volumes"

    @property
    def masks(self) -> Path:
        return self.interim / "masks"

    @property
    def manifest(self) -> Path:
        return self.interim / "manifest.parquet"

    @property
    def cache(self) -> Path:
        return self.processed / "cache"

    @property
    def index(self) -> Path:
        return self.processed / "index.parquet"

    @property
    def splits(self) -> Path:
        """The cross-validation folds ingest wrote (medimg.ingest.folds)."""
        return self.interim / "splits.json"

    @property
    def fingerprint(self) -> Path:
        """The dataset fingerprint the plan step writes (medimg.plan.fingerprint)."""
        return self.reports / "dataset_fingerprint.json"

    @property
    def plan(self) -> Path:
        """The plan the plan step writes and ``plan: auto`` reads (medimg.plan.planner)."""
        return self.reports / "plan.json"

    @property
    def postprocessing(self) -> Path:
        """What evaluate decided out of fold about a segmenter's post-processing; export puts it in
        the bundle (medimg.evaluate.postprocessing)."""
        return self.reports / "postprocessing.json"

    def stage_dir(self, stage: str, fold: int | None = None) -> Path:
        """A stage's folder; with k-fold training each fold trains in its own folder inside it."""
        return self.models / stage if fold is None else self.models / stage / f"fold_{fold}"
