import numpy as np

from medimg.config.schema import EvaluateParams
from medimg.evaluate.classification_report import classification_report
from medimg.evaluate.model_card import render_model_card

SPEC = EvaluateParams(bootstrap={"resamples": 200, "seed": 0})


def _split(seed, classes, n=90):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 2.0 * np.eye(classes)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return {
        "labels": labels,
        "probs": probs,
        "patients": np.array([f"p{i // 2}" for i in range(n)]),
    }


def _card(report, names):
    return render_model_card(
        {
            "model": "resnet18",
            "task_description": "grading",
            "stages": [{"name": "freeze", "trainable": "head", "epochs": 2}],
            "class_names": names,
            "counts": {"test": {n: 1 for n in names}},
            "quarantined": 0,
            "report": report,
            "split": "test",
            "protocol": {"text": "official test split (9 cases)"},
            "figures": ["figures/confusion.png"],
            "resamples": 200,
            "today": "2026-01-01",
        },
        "classification",
    )


def test_graded_labels_get_quadratic_kappa_and_per_class_auc_with_intervals():
    names = ["0", "1", "2", "3", "4"]
    evaluated = _split(1, 5)
    report = classification_report(
        _split(0, 5), evaluated, {"manufacturer": np.array(["A", "B"] * 45)}, SPEC
    )
    assert "operating_point" not in report and len(report["metrics"]["auc_per_class"]) == 5
    ci = report["ci95"]["quadratic_kappa"]
    assert ci["low"] <= report["metrics"]["quadratic_kappa"] <= ci["high"]
    assert set(report["subgroups"]["manufacturer"]) == {"A", "B"}
    card = _card(report, names)
    assert "Quadratic-weighted kappa" in card and "## Operating point" not in card
    assert "Test split: official test split (9 cases)." in card


def test_binary_threshold_comes_from_val_by_the_sensitivity_rule():
    spec = SPEC.model_copy(update={"threshold": "sensitivity", "target_sensitivity": 0.95})
    val, evaluated = _split(2, 2), _split(3, 2)
    report = classification_report(val, evaluated, {}, spec)
    assert report["operating_point"]["val"]["sensitivity"] >= 0.95
    assert report["metrics"]["threshold"] == report["operating_point"]["threshold"]
    card = _card(report, ["no", "yes"])
    assert "highest threshold reaching sensitivity 0.95" in card
    basis = report["operating_point"]["rests_on"]
    positives = int(val["labels"].sum())
    assert basis["cases"] == len(val["labels"]) and basis["positives"] == positives
    assert f"Rests on {len(val['labels'])} cases ({positives} positive" in card
