"""Evaluate a segmentation model on the evaluated split: per-case Dice, IoU, precision, recall,
HD95, ASSD and volume difference with intervals over patients, the best and worst case, the model
card. Writes reports/metrics.json, evaluation.json, predictions.parquet, plots/ and figures/."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.deploy.postprocess import postprocess
from medimg.evaluate import figures
from medimg.evaluate.cross_validation import cross_validation_table, interval
from medimg.evaluate.headline import dvc_headline, segmentation_figures
from medimg.evaluate.inference import final_model_on_split, predict_masks
from medimg.evaluate.model_card import card_context, render_model_card
from medimg.evaluate.postprocessing import choose_largest_component
from medimg.evaluate.record import Evaluation
from medimg.evaluate.run_figures import training_figures, write_empty_plots
from medimg.evaluate.segmentation_report import case_table, segmentation_report
from medimg.ingest.manifest import write_parquet
from medimg.io import atomic
from medimg.models.ensemble import FoldEnsemble
from medimg.train.checkpoint import final_checkpoint
from medimg.train.datasets import fold_rows


def _case_figures(cases, truths, predictions, images, reports) -> list[str]:
    """The best and the worst case by mean Dice, on the slice with the most foreground."""
    written = []
    dice = cases.groupby("case")["dice"].mean()
    for kind, case in (("best", int(dice.idxmax())), ("worst", int(dice.idxmin()))):
        truth, pred, image = truths[case], predictions[case], images[case]
        if truth.ndim == 3:  # the slice with the most reference (or predicted) foreground
            z = int(np.argmax((truth > 0).sum((1, 2)) + (pred > 0).sum((1, 2))))
            truth, pred, image = truth[z], pred[z], image[z]
        name = f"segmentation_{kind}_case.png"
        figures.segmentation_figure(
            image,
            truth,
            pred,
            f"{kind} case on this split (Dice {dice[case]:.2f})",
            reports / "figures" / name,
        )
        written.append(name)
    return written


def fold_figures(model: FoldEnsemble, rows, cases, params: Params, paths, device) -> dict:
    """Mean Dice over the evaluated cases and foreground classes for each fold's model alone and
    for their ensemble (``cases``: the ensemble's case table), each with its bootstrap interval."""
    classes, spacings = len(params.data.class_names), list(rows["cache_spacing"])
    patients_of_case = rows["patient_key"].to_numpy()

    def mean_dice(table) -> tuple[float, dict | None]:
        dice = table["dice"].to_numpy(dtype=float)

        def statistic(idx):
            picked = dice[idx][~np.isnan(dice[idx])]
            return float(picked.mean()) if len(picked) else None

        patients = patients_of_case[table["case"].to_numpy()]
        return float(np.nanmean(dice)), interval(statistic, patients, params)

    per_fold = []
    for member in model.members:
        _, truths, predictions = predict_masks(member, rows, params, paths, device)
        per_fold.append(mean_dice(case_table(predictions, truths, spacings, classes)))
    ensemble, ensemble_ci = mean_dice(cases)
    return cross_validation_table(
        "dice_mean",
        "Dice (mean over cases)",
        [value for value, _ in per_fold],
        ensemble,
        [ci for _, ci in per_fold],
        ensemble_ci,
    )


def out_of_fold_postprocessing(model, params: Params, paths: ProjectPaths, device) -> dict:
    """The largest-component decision on the cases no model trained on: each fold's model on
    its own validation part (or the one model on val)."""
    classes = len(params.data.class_names)
    if isinstance(model, FoldEnsemble):
        parts = [
            (member, fold_rows(paths.index, paths.splits, params.split.folds, k, "val"))
            for k, member in enumerate(model.members)
        ]
    else:
        parts = [(model, fold_rows(paths.index, paths.splits, 1, None, "val"))]
    truths, predictions = [], []
    for member, rows in parts:
        _, t, p = predict_masks(member, rows, params, paths, device)
        truths += t
        predictions += p
    return {
        **choose_largest_component(truths, predictions, classes),
        "evidence": "each fold's model on its own validation cases"
        if isinstance(model, FoldEnsemble)
        else "the model on the val split",
    }


def evaluate_segmenter(params: Params, paths: ProjectPaths) -> Evaluation:
    spec, names, reports = params.evaluate, params.data.class_names, paths.reports
    model, rows, device = final_model_on_split(params, paths)
    images, truths, predictions = predict_masks(model, rows, params, paths, device)
    decision = out_of_fold_postprocessing(model, params, paths, device)
    atomic.write_json(paths.postprocessing, decision)
    predictions = [postprocess(p, decision["largest_component"]) for p in predictions]
    photos = bool((rows["modality"] == "photo").all())  # no physical spacing: distances in pixels
    spacings = list(rows["cache_spacing"])
    cases = case_table(predictions, truths, spacings, len(names), photos)
    keys = rows[["series_key", "patient_key", *spec.subgroups]].reset_index(drop=True)
    cases = cases.join(keys, on="case")
    report = segmentation_report(cases, names, spec.subgroups, spec)
    if isinstance(model, FoldEnsemble):
        report["cross_validation"] = fold_figures(model, rows, cases, params, paths, device)
    report.update(
        postprocessing=decision,
        split=spec.split,
        class_names=names,
        checkpoint=str(final_checkpoint(params, paths)),
        distance_units="pixels (photos carry no spacing)" if photos else "mm",
        distance_key="hd95_px" if photos else "hd95_mm",
    )
    flat, prefixes = segmentation_figures(report)
    headline = dvc_headline(flat, "segmentation", prefixes)
    atomic.write_json(reports / "metrics.json", headline)
    atomic.write_json(reports / "promises.json", {})  # no operating point to promise
    atomic.write_json(reports / "evaluation.json", report)
    table = cases.drop(columns=[c for c in spec.subgroups if c in cases]).assign(
        split=spec.split, **{"class": [names[int(c)] for c in cases["class"]]}
    )
    write_parquet(table.drop(columns=["case"]), reports / "predictions.parquet")
    write_empty_plots(reports / "plots", ("roc", "pr", "calibration", "confusion"))
    written = _case_figures(cases, truths, predictions, images, reports)
    written += training_figures(params, paths)
    counts = pd.read_parquet(paths.index)["split"].value_counts().to_dict()
    context = card_context(
        params, paths, report, written, f"segmentation of {', '.join(names[1:])}", counts
    )
    atomic.write_text(reports / "model_card.md", render_model_card(context, "segmentation"))
    return Evaluation("segmentation", flat, headline, written)
