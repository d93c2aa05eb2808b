"""Step 4: clinical evaluation of the final stage's best model on the evaluated split.

The operating threshold is chosen on val and applied unchanged; every figure gets a 95% interval
by bootstrap over patients; subgroups, plot data, PNG figures, Grad-CAM and a model card follow.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from medimg.config.catalog import CATALOG
from medimg.config.schema import Params
from medimg.evaluate import figures
from medimg.evaluate.classification_report import calibration_report, classification_report
from medimg.evaluate.gradcam import grad_cam, hottest_slice
from medimg.evaluate.metrics.calibration import (
    calibration_bins,
    fit_temperature,
    log_probabilities,
    scaled_probabilities,
)
from medimg.evaluate.metrics.classification import CLINICAL_METRICS
from medimg.evaluate.model_card import render_model_card, render_segmentation_card
from medimg.evaluate.plot_data import confusion_rows, pr_points, roc_band, roc_points
from medimg.evaluate.segmentation_report import case_table, segmentation_report
from medimg.ingest.manifest import write_parquet
from medimg.io import atomic
from medimg.io.paths import ProjectPaths
from medimg.io.tracking import flatten, pipeline_key, tracking_run
from medimg.models.whole_volume import whole_item_model
from medimg.train.checkpoint import final_checkpoint, load_final_model
from medimg.train.curves import plot_curves
from medimg.train.datasets import (
    CachedClassificationDataset,
    CachedSegmentationDataset,
    loader_workers,
    make_loader,
    read_split,
)
from medimg.train.device import pick_device
from medimg.train.validation import predict_scores


def _predict(model, rows: pd.DataFrame, params: Params, paths: ProjectPaths, device) -> dict:
    loader = make_loader(
        CachedClassificationDataset(rows, paths.processed),
        params.train.batch_size,
        loader_workers(params.train.num_workers, device),
        0,
        train=False,
    )
    labels, probs = predict_scores(model, loader, device)
    return {
        "labels": labels.astype(int),
        "probs": probs.astype(float),
        "patients": rows["patient_key"].to_numpy(),
    }


def calibrate(val: dict, evaluated: dict, enabled: bool) -> float:
    """Fit a temperature on val and replace both splits' probabilities with the scaled ones (in
    place), so the threshold, every reported figure and the bundle use the calibrated scores.
    Returns the temperature (1.0 when disabled)."""
    if not enabled:
        return 1.0
    temperature = fit_temperature(log_probabilities(val["probs"]), val["labels"])
    for split in (val, evaluated):
        split["probs"] = scaled_probabilities(log_probabilities(split["probs"]), temperature)
    return temperature


def headline(report: dict) -> dict:
    """The scalar figures `dvc metrics show` lists: value, and the 95% interval as _low/_high."""
    out: dict = {"n": report["n"]}
    if "operating_point" in report:
        out.update(
            threshold=report["operating_point"]["threshold"],
            threshold_rule=report["operating_point"]["rule"],
        )
    if "calibration" in report:
        out["temperature"] = report["calibration"]["temperature"]
        out["ece_uncalibrated"] = report["calibration"]["metrics"]["ece_before"]
    for name in CLINICAL_METRICS:
        if name not in report["metrics"]:
            continue
        out[name] = report["metrics"][name]
        if name in report["ci95"]:
            out[f"{name}_low"], out[f"{name}_high"] = (
                report["ci95"][name]["low"],
                report["ci95"][name]["high"],
            )
    return out


# what `dvc metrics show` lists (reports/metrics.json), by kind of model; each key with an
# interval gets _low/_high too. Everything else is in evaluation.json and the MLflow run.
HEADLINE = {
    "binary": (("auc", True), ("sensitivity", False), ("specificity", False), ("ece", False)),
    "graded": (
        ("quadratic_kappa", True),
        ("accuracy", False),
        ("macro_auc", False),
        ("ece", False),
    ),
    "segmentation": (("dice_mean", True), ("dice_present_mean", False), ("hd95_mm_median", False)),
}


def dvc_headline(figures: dict, kind: str, prefixes: tuple[str, ...] = ("",)) -> dict:
    """The few figures of ``figures`` (the flat scalars the evaluate step logs) that
    reports/metrics.json keeps, so `dvc metrics show` and `dvc exp show` stay readable.
    ``prefixes``: one per segmented class when there are several ("liver_", "tumour_")."""
    out = {"n": figures["n"]}
    for prefix in prefixes:
        for name, interval in HEADLINE[kind]:
            key = prefix + name
            if key in figures:
                out[key] = figures[key]
                if interval and f"{key}_low" in figures:
                    out[f"{key}_low"] = figures[f"{key}_low"]
                    out[f"{key}_high"] = figures[f"{key}_high"]
    if "threshold" in figures:  # the operating point; its temperature is in evaluation.json
        out["threshold"] = figures["threshold"]
    return out


def _counts(index: pd.DataFrame, class_names: list[str]) -> dict:
    table = index.groupby(["split", "label"]).size()
    return {
        split: {class_names[int(label)]: int(n) for (s, label), n in table.items() if s == split}
        for split in ("train", "val", "test")
    }


def _explain(model, rows, evaluated, threshold, params, paths) -> list[str]:
    """Grad-CAM figures of the most confident true and false positives."""
    scores, labels = evaluated["probs"][:, 1], evaluated["labels"]
    dataset = CachedClassificationDataset(rows, paths.processed)
    written = []
    for kind, wanted in (("true_positive", 1), ("false_positive", 0)):
        chosen = np.where((labels == wanted) & (scores >= threshold))[0]
        for rank, i in enumerate(
            chosen[np.argsort(-scores[chosen])][: params.evaluate.explain_cases], start=1
        ):
            image = dataset[int(i)][0]
            heat = grad_cam(model.cpu(), image, 1)
            grey, hot = hottest_slice(image.numpy(), heat)
            name = f"gradcam_{kind}_{rank}.png"
            figures.overlay_figure(
                grey,
                hot,
                f"Grad-CAM, {kind.replace('_', ' ')} {rank} (score {scores[i]:.2f})",
                paths.reports / "figures" / name,
            )
            written.append(name)
    return written


def write_empty_plots(folder, names) -> None:
    """dvc.yaml declares every plot file; those that do not apply (binary curves for a multi-class or
    segmentation model) are written empty rather than missing, which would fail the stage."""
    for name in names:
        atomic.write_json(folder / f"{name}.json", {name: []})


def _quarantined(paths: ProjectPaths):
    summary = paths.reports / "ingest_summary.json"
    if not summary.exists():
        return "unknown (no reports/ingest_summary.json)"
    return json.loads(summary.read_text()).get("by_status", {}).get("quarantined", 0)


def _training_figures(params: Params, paths: ProjectPaths) -> list[str]:
    written = []
    for stage in params.train.stages:
        history = paths.stage_dir(stage.name) / "history.json"
        if history.exists():
            target = paths.reports / "figures" / f"training_{stage.name}.png"
            plot_curves(
                json.loads(history.read_text())["history"],
                stage.early_stopping.metric,
                target,
                f"{params.model.name}, stage {stage.name}",
            )
            written.append(target.name)
    return written


def _track(params: Params, paths: ProjectPaths, figures_by_name: dict, written: list[str]) -> None:
    spec, reports = params.evaluate, paths.reports
    with tracking_run(
        params.tracking,
        "evaluate",
        {"step": "evaluate"},
        parent_key=pipeline_key(params, paths.index),
    ) as tracker:
        tracker.log_params(flatten({"evaluate": spec.model_dump()}))
        tracker.log_metrics(
            {f"{spec.split}_{k}": v for k, v in figures_by_name.items() if isinstance(v, float)}
        )
        for path in (
            reports / "metrics.json",
            reports / "evaluation.json",
            reports / "model_card.md",
        ):
            tracker.log_artifact(path)
        for name in written:
            tracker.log_artifact(reports / "figures" / name, "figures")


@torch.no_grad()
def _predict_masks(model, rows: pd.DataFrame, params: Params, paths: ProjectPaths, device):
    dataset = CachedSegmentationDataset(rows, paths.processed)
    loader = make_loader(
        dataset,
        params.train.batch_size,
        loader_workers(params.train.num_workers, device),
        0,
        train=False,
    )
    images, truths, predictions = [], [], []
    info = CATALOG[params.model.name]
    whole = whole_item_model(model, info.task, info.ndim, params.sampling)
    for x, y in loader:
        predictions += list(whole(x.to(device)).argmax(1).cpu().numpy())
        truths += list(y.numpy())
        images += list(x[:, 0].numpy())
    return images, truths, predictions


def _evaluate_segmentation(params: Params, paths: ProjectPaths) -> dict:
    """Per-case Dice, IoU, precision, recall, HD95, ASSD and volume difference on the evaluated split."""
    spec, names = params.evaluate, params.data.class_names
    device = pick_device(params.train.device)
    model = load_final_model(params, paths).to(device)
    rows = read_split(paths.index, spec.split)
    images, truths, predictions = _predict_masks(model, rows, params, paths, device)
    cases = case_table(predictions, truths, list(rows["cache_spacing"]), len(names))
    keys = rows[["series_key", "patient_key", *spec.subgroups]].reset_index(drop=True)
    cases = cases.join(keys, on="case")
    report = segmentation_report(cases, names, spec.subgroups, spec)
    photos = bool((rows["modality"] == "photo").all())  # no physical spacing: distances in pixels
    report.update(
        split=spec.split,
        class_names=names,
        checkpoint=str(final_checkpoint(params, paths)),
        distance_units="pixels (photos carry no spacing; the _mm figures are pixels)"
        if photos
        else "mm",
    )
    figures_by_name: dict = {"n": report["cases"]}
    for name, block in report["classes"].items():
        prefix = "" if len(report["classes"]) == 1 else f"{name}_"
        for key, value in block["metrics"].items():
            figures_by_name[prefix + key] = value
            if key in block["ci95"]:
                figures_by_name[f"{prefix}{key}_low"] = block["ci95"][key]["low"]
                figures_by_name[f"{prefix}{key}_high"] = block["ci95"][key]["high"]
    reports = paths.reports
    prefixes = ("",) if len(report["classes"]) == 1 else tuple(f"{n}_" for n in report["classes"])
    atomic.write_json(
        reports / "metrics.json", dvc_headline(figures_by_name, "segmentation", prefixes)
    )
    atomic.write_json(reports / "evaluation.json", report)
    table = cases.drop(columns=[c for c in spec.subgroups if c in cases]).assign(
        split=spec.split, **{"class": [names[int(c)] for c in cases["class"]]}
    )
    write_parquet(table.drop(columns=["case"]), reports / "predictions.parquet")
    write_empty_plots(reports / "plots", ("roc", "pr", "calibration", "confusion"))
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
    written += _training_figures(params, paths)
    index = pd.read_parquet(paths.index)
    card = render_segmentation_card(
        {
            "model": params.model.name,
            "task_description": f"segmentation of {', '.join(names[1:])}",
            "stages": [s.model_dump() for s in params.train.stages],
            "class_names": names,
            "counts": index["split"].value_counts().to_dict(),
            "quarantined": _quarantined(paths),
            "report": report,
            "split": spec.split,
            "figures": [f"figures/{f}" for f in written],
            "resamples": spec.bootstrap.resamples,
        }
    )
    atomic.write_text(reports / "model_card.md", card)
    _track(params, paths, figures_by_name, written)
    return {
        "metrics": str(reports / "metrics.json"),
        "model_card": str(reports / "model_card.md"),
        **{
            k: v
            for k, v in figures_by_name.items()
            if k
            in (
                "n",
                "dice_mean",
                "dice_mean_low",
                "dice_mean_high",
                "dice_present_mean",
                "hd95_mm_median",
            )
        },
    }


def run_evaluate(params: Params, paths: ProjectPaths) -> dict:
    """Write reports/metrics.json, evaluation.json, predictions.parquet, plots/*.json, figures/*.png and
    model_card.md, and log them to MLflow."""
    atomic.sweep_leftovers(paths.reports)  # a killed run's half-written files
    if CATALOG[params.model.name].task == "segmentation":
        return _evaluate_segmentation(params, paths)
    spec, names = params.evaluate, params.data.class_names
    device = pick_device(params.train.device)
    model = load_final_model(params, paths).to(device)
    rows = read_split(paths.index, spec.split)
    val = _predict(model, read_split(paths.index, "val"), params, paths, device)
    evaluated = _predict(model, rows, params, paths, device)
    subgroups = {
        column: rows[column].fillna("unknown").astype(str).to_numpy() for column in spec.subgroups
    }
    raw = evaluated["probs"]
    temperature = calibrate(val, evaluated, spec.calibrate)
    report = classification_report(val, evaluated, subgroups, spec)
    if spec.calibrate:
        report["calibration"] = calibration_report(
            evaluated["labels"], raw, evaluated["probs"], evaluated["patients"], temperature, spec
        )
    report.update(
        split=spec.split, class_names=names, checkpoint=str(final_checkpoint(params, paths))
    )
    labels, probs = evaluated["labels"], evaluated["probs"]
    binary = probs.shape[1] == 2
    threshold = report["operating_point"]["threshold"] if binary else None
    predicted = (probs[:, 1] >= threshold).astype(int) if binary else probs.argmax(1)

    reports, plots, figs = paths.reports, paths.reports / "plots", paths.reports / "figures"
    kind = "binary" if probs.shape[1] == 2 else "graded"
    atomic.write_json(reports / "metrics.json", dvc_headline(headline(report), kind))
    atomic.write_json(reports / "evaluation.json", report)
    frame = pd.DataFrame(
        {
            "series_key": rows["series_key"],
            "patient_key": rows["patient_key"],
            "split": spec.split,
            "label": labels,
            "prediction": predicted,
        }
    )
    if binary:
        frame.insert(4, "score", probs[:, 1])
    else:
        for k, name in enumerate(names):
            frame[f"prob_{name}"] = probs[:, k]
    write_parquet(frame, reports / "predictions.parquet")
    atomic.write_json(
        plots / "confusion.json", {"confusion": confusion_rows(labels, predicted, names)}
    )
    matrix = np.zeros((len(names), len(names)), int)
    np.add.at(matrix, (labels, predicted), 1)
    written = [figures.confusion_figure(matrix.tolist(), names, figs / "confusion.png").name]
    if binary:
        scores = probs[:, 1]
        roc = roc_points(labels, scores)
        band = roc_band(
            labels, scores, evaluated["patients"], spec.bootstrap.resamples, spec.bootstrap.seed
        )
        atomic.write_json(plots / "roc.json", {"roc": roc})
        atomic.write_json(plots / "pr.json", {"pr": pr_points(labels, scores)})
        calibration = calibration_bins(labels, scores, spec.ece_bins)
        atomic.write_json(plots / "calibration.json", {"calibration": calibration})
        m, ci = report["metrics"], report["ci95"]
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
        written += _explain(model, rows, evaluated, threshold, params, paths)
    else:
        write_empty_plots(plots, ("roc", "pr", "calibration"))
    written += _training_figures(params, paths)
    card = render_model_card(
        {
            "model": params.model.name,
            "task_description": f"{' vs '.join(names)} classification",
            "stages": [s.model_dump() for s in params.train.stages],
            "class_names": names,
            "counts": _counts(pd.read_parquet(paths.index), names),
            "quarantined": _quarantined(paths),
            "report": report,
            "split": spec.split,
            "figures": [f"figures/{f}" for f in written],
            "resamples": spec.bootstrap.resamples,
        }
    )
    atomic.write_text(reports / "model_card.md", card)
    _track(params, paths, headline(report), written)
    return {
        "metrics": str(reports / "metrics.json"),
        "model_card": str(reports / "model_card.md"),
        **{
            k: v
            for k, v in headline(report).items()
            if k
            in ("n", "auc", "auc_low", "auc_high", "sensitivity", "specificity", "quadratic_kappa")
        },
    }
