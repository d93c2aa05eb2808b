"""DVC as the flow's record of what is up to date: one source of truth for `dvc repro` and Prefect.

Before a step runs, the flow asks DVC whether the step's stage has changed (its deps, params, code and
outs against dvc.lock, exactly as `dvc status` does). After it runs, the stage is committed: its
outputs are hashed into the cache and dvc.lock is written, as `dvc repro` would have done. So a flow
run after a crash redoes only the unfinished steps, and `dvc status` agrees with the flow afterwards.
"""

from __future__ import annotations

from contextlib import chdir, contextmanager
from pathlib import Path


def stage_name(step: str) -> str:
    """The dvc.yaml stage of a flow step: 'train-freeze' → 'train_freeze', 'demo-data' → 'demo_data'."""
    return step.replace("-", "_")


@contextmanager
def _repo(root: Path):
    from dvc.repo import Repo

    # DVC resolves some output paths against the working directory, as its CLI always runs in the project
    with chdir(root):
        repo = Repo(str(root))
        try:
            yield repo
        finally:
            repo.close()


def tracked_stages(root: Path) -> set[str] | None:
    """Names of the stages in ``root``'s dvc.yaml, or None when ``root`` is not a DVC project."""
    if not (Path(root) / ".dvc").is_dir() or not (Path(root) / "dvc.yaml").is_file():
        return None
    with _repo(root) as repo:
        return {
            stage.name for stage in repo.index.stages if getattr(stage, "name", None)
        }  # .dvc files have none


def changes(root: Path, stage: str) -> dict:
    """What `dvc status <stage>` reports; empty when the stage is up to date."""
    with _repo(root) as repo:
        return repo.status(targets=[stage])


def record(root: Path, stage: str) -> None:
    """Write ``stage``'s dvc.lock entry from the workspace and cache its outputs (as `dvc commit`)."""
    with _repo(root) as repo:
        repo.commit(stage, force=True)


def update_data(root: Path) -> str:
    """Bring the raw data up to date: `dvc update` for imported data, `dvc pull` where a remote is
    configured; with neither, the local data are used as they are. Returns what was done."""
    if tracked_stages(root) is None:
        return "not a DVC project: the local data are used as they are"
    done = []
    with _repo(root) as repo:
        imports = [stage for stage in repo.index.stages if stage.is_import]
        if imports:
            repo.update([stage.addressing for stage in imports])
            done.append(f"dvc update of {len(imports)} import(s)")
        if repo.config.get("remote"):
            repo.pull(allow_missing=True)
            done.append("dvc pull from " + (repo.config["core"].get("remote") or "the remote"))
    return (
        "; ".join(done) or "no DVC remote or import configured: the local data are used as they are"
    )
