"""Evaluate a classifier on the evaluated split: temperature scaling fitted on val, the operating
threshold chosen on val and applied unchanged, every figure with a 95% interval by bootstrap over
patients, subgroups, plot data, figures, Grad-CAM and the model card. Writes reports/metrics.json,
evaluation.json, predictions.parquet, plots/, figures/ and model_card.md."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medimg.config.paths import ProjectPaths
from medimg.config.schema import EvaluateParams, Params
from medimg.evaluate import figures
from medimg.evaluate.classification_report import (
    calibration_report,
    classification_report,
    promises,
)
from medimg.evaluate.cross_validation import cross_validation_table, interval
from medimg.evaluate.decisions import (
    Decisions,
    ensemble_decisions,
    pooled,
    single_model_decisions,
)
from medimg.evaluate.headline import classification_figures, dvc_headline, promise_figures
from medimg.evaluate.inference import final_model_on_split, predict_probabilities
from medimg.evaluate.model_card import card_context, render_model_card
from medimg.evaluate.plot_data import confusion_rows, pr_points, roc_band, roc_points
from medimg.evaluate.promises import score_shift
from medimg.evaluate.record import Evaluation
from medimg.evaluate.run_figures import explain_positives, training_figures, write_empty_plots
from medimg.ingest.manifest import write_parquet
from medimg.io import atomic
from medimg.metrics.calibration import calibration_bins
from medimg.metrics.classification import auc_score, quadratic_kappa
from medimg.metrics.evidence import decision_basis
from medimg.models.ensemble import FoldEnsemble
from medimg.train.checkpoint import final_checkpoint


def split_counts(index: pd.DataFrame, class_names: list[str]) -> dict:
    """Items per split and label: split → class name → n."""
    table = index.groupby(["split", "label"]).size()
    return {
        split: {class_names[int(label)]: int(n) for (s, label), n in table.items() if s == split}
        for split in ("train", "val", "test")
    }


def predictions_table(rows, evaluated: dict, predicted, split: str, names: list[str]):
    """reports/predictions.parquet: one row per item with its label, prediction and score(s)."""
    labels, probs = evaluated["labels"], evaluated["probs"]
    frame = pd.DataFrame(
        {
            "series_key": rows["series_key"],
            "patient_key": rows["patient_key"],
            "split": split,
            "label": labels,
            "prediction": predicted,
        }
    )
    if probs.shape[1] == 2:
        frame.insert(4, "score", probs[:, 1])
    else:
        for k, name in enumerate(names):
            frame[f"prob_{name}"] = probs[:, k]
    return frame


def _binary_plots(evaluated: dict, raw, report: dict, spec: EvaluateParams, paths) -> list[str]:
    """ROC (with its band), PR and calibration plot data, and the ROC and reliability figures."""
    plots, figs = paths.reports / "plots", paths.reports / "figures"
    labels, scores = evaluated["labels"], evaluated["probs"][:, 1]
    roc = roc_points(labels, scores)
    band = roc_band(
        labels, scores, evaluated["patients"], spec.bootstrap.resamples, spec.bootstrap.seed
    )
    atomic.write_json(plots / "roc.json", {"roc": roc})
    atomic.write_json(plots / "pr.json", {"pr": pr_points(labels, scores)})
    calibration = calibration_bins(labels, scores, spec.ece_bins)
    atomic.write_json(plots / "calibration.json", {"calibration": calibration})
    m, ci = report["metrics"], report["ci95"]
    written = []
    if roc and "auc" in ci:
        written.append(
            figures.roc_figure(
                roc, band, {"value": m["auc"], **ci["auc"]}, m, figs / "roc.png"
            ).name
        )
    written.append(
        figures.calibration_figure(
            calibration,
            m["brier"],
            m["ece"],
            figs / "calibration.png",
            calibration_bins(labels, raw[:, 1], spec.ece_bins) if spec.calibrate else None,
            report.get("calibration", {}).get("metrics", {}).get("ece_before"),
        ).name
    )
    return written


def fold_figures(decided: Decisions, params) -> dict:
    """The evaluated split's key figure (AUC, or quadratic kappa for graded labels) for each fold's
    model alone and for their ensemble as deployed, each with its bootstrap interval over
    patients."""
    evaluated = decided.evaluated
    labels, patients = evaluated["labels"], evaluated["patients"]

    def figure(probs, idx=None):
        idx = np.arange(len(labels)) if idx is None else idx
        if len(np.unique(labels[idx])) < 2:
            return None  # a resample with one class has no AUC
        if probs.shape[1] == 2:
            return auc_score(labels[idx], probs[idx])
        return quadratic_kappa(labels[idx], probs[idx].argmax(1))

    def with_interval(probs):
        return figure(probs), interval(lambda idx: figure(probs, idx), patients, params)

    per_fold = [with_interval(member["probs"]) for member in decided.members_on_evaluated]
    binary = evaluated["probs"].shape[1] == 2
    metric, title = (
        ("auc", "ROC-AUC") if binary else ("quadratic_kappa", "Quadratic-weighted kappa")
    )
    ensemble, ensemble_ci = with_interval(evaluated["probs"])
    return cross_validation_table(
        metric,
        title,
        [value for value, _ in per_fold],
        ensemble,
        [ci for _, ci in per_fold],
        ensemble_ci,
    )


def evaluate_classifier(params: Params, paths: ProjectPaths) -> Evaluation:
    spec, names, reports = params.evaluate, params.data.class_names, paths.reports
    model, rows, device = final_model_on_split(params, paths)
    subgroups = {
        column: rows[column].fillna("unknown").astype(str).to_numpy() for column in spec.subgroups
    }
    if isinstance(model, FoldEnsemble):
        decided = ensemble_decisions(model, rows, params, paths, predict_probabilities, device)
    else:
        decided = single_model_decisions(model, rows, params, paths, predict_probabilities, device)
    evaluated, raw, decision = decided.evaluated, decided.raw, decided.decision
    report = classification_report(
        decision, evaluated, subgroups, spec, decided.decided_on, decided.ensemble_on_pool
    )
    if spec.calibrate:
        report["calibration"] = calibration_report(
            evaluated["labels"],
            raw,
            evaluated["probs"],
            evaluated["patients"],
            decided.temperatures,
            spec,
        )
        fitted_on = pooled(decided.decision_parts)["labels"]  # each model's own decision cases
        report["calibration"]["rests_on"] = decision_basis(fitted_on, "classification")
    if "operating_point" in report:
        report["operating_point"].update(
            promises(decision, evaluated, report["operating_point"], spec)
        )
        report["score_shift"] = score_shift(decided.decision_parts, decided.evaluated_parts)
    if isinstance(model, FoldEnsemble):
        report["cross_validation"] = fold_figures(decided, params)
        report["out_of_fold"] = decided.out_of_fold
    report.update(
        split=spec.split, class_names=names, checkpoint=str(final_checkpoint(params, paths))
    )
    labels, probs = evaluated["labels"], evaluated["probs"]
    binary = probs.shape[1] == 2
    kind = "binary" if binary else "graded"
    threshold = report["operating_point"]["threshold"] if binary else None
    predicted = (probs[:, 1] >= threshold).astype(int) if binary else probs.argmax(1)

    flat = classification_figures(report)
    headline = dvc_headline(flat, kind)
    atomic.write_json(reports / "metrics.json", headline)
    atomic.write_json(reports / "promises.json", promise_figures(report))
    atomic.write_json(reports / "evaluation.json", report)
    write_parquet(
        predictions_table(rows, evaluated, predicted, spec.split, names),
        reports / "predictions.parquet",
    )
    atomic.write_json(
        reports / "plots" / "confusion.json",
        {"confusion": confusion_rows(labels, predicted, names)},
    )
    matrix = np.zeros((len(names), len(names)), int)
    np.add.at(matrix, (labels, predicted), 1)
    figs = reports / "figures"
    written = [figures.confusion_figure(matrix.tolist(), names, figs / "confusion.png").name]
    if binary:
        written += _binary_plots(evaluated, raw, report, spec, paths)
        written += explain_positives(model, rows, evaluated, threshold, params, paths)
    else:
        write_empty_plots(reports / "plots", ("roc", "pr", "calibration"))
    written += training_figures(params, paths)
    counts = split_counts(pd.read_parquet(paths.index), names)
    context = card_context(
        params, paths, report, written, f"{' vs '.join(names)} classification", counts
    )
    atomic.write_text(reports / "model_card.md", render_model_card(context, "classification"))
    return Evaluation(kind, flat, headline, written)
