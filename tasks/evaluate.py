"""Step 4: evaluate the final stage's best model on the test split, at a threshold chosen on val."""

from __future__ import annotations

import pandas as pd
import torch
from sklearn.metrics import roc_curve

from medimg import atomic
from medimg.datasets import CachedClassificationDataset, make_loader, read_split
from medimg.layout import ProjectPaths
from medimg.manifest import write_parquet
from medimg.metrics.classification import binary_report, youden_threshold
from medimg.models import build_model
from medimg.params import Params
from medimg.tracking import pipeline_key, tracking_run
from medimg.training.checkpoint import load_checkpoint
from medimg.training.device import pick_device
from medimg.training.validation import predict_scores


def final_checkpoint(params: Params, paths: ProjectPaths):
    return paths.stage_dir(params.train.stages[-1].name) / "ckpt.pt"


def load_final_model(params: Params, paths: ProjectPaths) -> torch.nn.Module:
    model = build_model(params.model)
    model.load_state_dict(load_checkpoint(final_checkpoint(params, paths))["model"])
    return model.eval()


def run_evaluate(params: Params, paths: ProjectPaths) -> dict:
    """Write reports/metrics.json, reports/predictions.parquet and ROC plot data."""
    device = pick_device(params.train.device)
    model = load_final_model(params, paths).to(device)
    scores = {}
    for split in ("val", params.evaluate.split):
        rows = read_split(paths.index, split)
        loader = make_loader(CachedClassificationDataset(rows, paths.processed), params.train.batch_size,
                             params.train.num_workers, 0, train=False)
        labels, probs = predict_scores(model, loader, device)
        scores[split] = (rows, labels, probs[:, 1])
    threshold = youden_threshold(scores["val"][1], scores["val"][2])
    rows, labels, positive = scores[params.evaluate.split]
    report = binary_report(labels, positive, threshold)
    metrics = {"split": params.evaluate.split, "threshold_rule": "youden on val", **report,
               "val_auc": binary_report(scores["val"][1], scores["val"][2], threshold)["auc"],
               "checkpoint": str(final_checkpoint(params, paths))}
    atomic.write_json(paths.reports / "metrics.json", metrics)
    predictions = pd.DataFrame({"series_key": rows["series_key"], "patient_key": rows["patient_key"],
                                "split": params.evaluate.split, "label": labels, "score": positive,
                                "prediction": (positive >= threshold).astype(int)})
    write_parquet(predictions, paths.reports / "predictions.parquet")
    if report["auc"] is not None:
        fpr, tpr, _ = roc_curve(labels, positive)
        roc = [{"fpr": float(f), "tpr": float(t)} for f, t in zip(fpr, tpr)]
    else:
        roc = []
    atomic.write_json(paths.reports / "plots" / "roc.json", {"roc": roc})
    with tracking_run(params.tracking, "evaluate", {"step": "evaluate"},
                      parent_key=pipeline_key(params, paths.index)) as tracker:
        tracker.log_metrics({f"test_{k}": v for k, v in report.items()})
        tracker.log_artifact(paths.reports / "metrics.json")
    return {"metrics": str(paths.reports / "metrics.json"), **{k: metrics[k] for k in ("auc", "sensitivity",
                                                                                      "specificity", "n")}}
