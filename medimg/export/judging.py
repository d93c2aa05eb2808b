"""Judge every exported variant: its own operating point and the gate on val, its clinical
figures on test (which only reports). See gate.py for why each variant gets its own threshold."""

from __future__ import annotations

from dataclasses import dataclass

from medimg.config.catalog import CATALOG
from medimg.config.paths import ProjectPaths
from medimg.config.schema import Params
from medimg.config.variants import REFERENCE
from medimg.deploy.runners import Runner
from medimg.export.gate import changes, gate_variant, operating_changes, variant_threshold
from medimg.export.scoring import (
    gate_split,
    load_split,
    operating_point,
    run_on_items,
    score_session,
    variant_metrics,
)
from medimg.metrics.classification import matched_threshold
from medimg.metrics.evidence import decision_basis
from medimg.metrics.probabilities import softmax
from medimg.train.datasets import read_split


@dataclass(frozen=True)
class Judgement:
    metric: str  # the key metric the gate reads (auc, quadratic_kappa, dice...)
    threshold: float | None  # the evaluate step's operating point on val
    temperature: float  # the evaluate step's calibration, which every variant's scores use
    thresholds: dict[str, float | None]  # each variant's own, on val
    quality: dict[str, dict]  # per variant: verdict, reasons, val figures and changes, test figures
    clinical: dict[str, dict]  # per variant: every clinical figure on test
    test_items: int
    ndim: int  # of the images (a 2D network may segment 3D volumes)
    gate_rests_on: dict  # the val cases behind every variant's threshold and verdict


def judge_variants(params: Params, paths: ProjectPaths, runners: dict[str, Runner]) -> Judgement:
    spec, info = params.export, CATALOG[params.model.name]
    classes = params.model.num_classes
    split = gate_split(params)
    val_images, val_targets = load_split(params, paths, split)
    patients = read_split(paths.index, split)["patient_key"].to_numpy()
    images, targets = load_split(params, paths, "test")
    threshold, temperature = operating_point(paths)
    thresholds, on_val, clinical, scores = {}, {}, {}, {}
    metric = ""
    logits = {
        name: run_on_items(run, val_images, info.task, info.ndim, params)
        for name, run in runners.items()
    }
    binary = info.task == "classification" and classes == 2
    positive = {n: softmax(v, temperature)[:, -1] for n, v in logits.items()} if binary else {}
    for name, run in runners.items():
        if binary and params.split.folds > 1:
            # the evaluate step's rule for the ensemble: fp32's deployed cut carried by quantile
            # to this variant's scores on the same non-test cases
            thresholds[name] = matched_threshold(positive[REFERENCE], threshold, positive[name])
        else:
            thresholds[name] = variant_threshold(
                info.task, classes, val_targets, logits[name], params.evaluate, temperature
            )
        at = threshold if thresholds[name] is None else thresholds[name]
        metric, on_val[name] = variant_metrics(
            info.task, classes, val_targets, logits[name], at, temperature
        )
        if binary:
            scores[name] = (positive[name], at)
        _, clinical[name] = score_session(run, params, images, targets, at, temperature)
    boot = params.evaluate.bootstrap
    quality = {}
    for name in runners:
        operating = (
            operating_changes(
                val_targets, patients, scores[REFERENCE], scores[name], boot.resamples, boot.seed
            )
            if binary
            else None
        )
        reasons = gate_variant(
            metric,
            on_val[name],
            on_val[REFERENCE],
            spec.max_metric_drop,
            spec.max_operating_drop,
            spec.max_hd95_increase,
            operating,
        )
        on_test = changes(clinical[name], clinical[REFERENCE])
        quality[name] = {
            metric: clinical[name][metric],
            "threshold": thresholds[name],
            "delta": on_test[metric],
            "deployable": not reasons,
            "reasons": reasons,
            "val": on_val[name],
            "val_deltas": changes(on_val[name], on_val[REFERENCE]),
            "operating_change": operating,
            "clinical_deltas": on_test,
        }
    return Judgement(
        metric,
        threshold,
        temperature,
        thresholds,
        quality,
        clinical,
        len(images),
        images.ndim - 2,
        decision_basis(val_targets, info.task),
    )
