import sqlite3

from medimg.config.schema import TrackingParams
from medimg.tracking.runs import flatten, tracking_run


def test_each_run_logs_to_its_own_params_store(tmp_path):
    for name in (
        "a",
        "b",
    ):  # one process, two projects: the second must not reuse the first's store
        spec = TrackingParams(uri=f"sqlite:///{tmp_path / name}.db", experiment=f"exp-{name}")
        with tracking_run(spec, f"run-{name}") as tracker:
            tracker.log_metrics({"auc": 0.5, "skipped": None}, step=0)
    for name in ("a", "b"):
        with sqlite3.connect(tmp_path / f"{name}.db") as db:
            runs = db.execute("select name from runs").fetchall()
            metrics = db.execute("select key from metrics").fetchall()
        assert runs == [(f"run-{name}",)] and metrics == [("auc",)]


def test_flatten_names_nested_keys_and_list_items():
    assert flatten({"train": {"stages": [{"epochs": 3}], "seed": 0}}) == {
        "train.stages.0.epochs": 3,
        "train.seed": 0,
    }
