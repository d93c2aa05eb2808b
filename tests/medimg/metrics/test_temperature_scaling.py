"""Temperature scaling and the calibration figures around it, on synthetic scores whose true
calibration is known."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from medimg.config.schema import EvaluateParams
from medimg.evaluate.classification_report import calibration_report
from medimg.metrics.calibration import (
    calibration_errors,
    expected_calibration_error,
    fit_temperature,
    log_probabilities,
    top_label_ece,
)
from medimg.metrics.probabilities import softmax as calibrated_softmax


def overconfident(n: int, classes: int, scale: float, seed: int):
    """Labels drawn from softmax(z), and logits ``scale`` × z: a model ``scale`` times too sure."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, size=(n, classes))
    labels = np.array([rng.choice(classes, p=p) for p in softmax(z, axis=1)])
    return scale * z, labels


@pytest.mark.parametrize("classes", [2, 5])
def test_the_fitted_temperature_undoes_overconfidence_and_minimises_nll(classes):
    logits, labels = overconfident(4000, classes, 3.0, seed=classes)
    temperature = fit_temperature(logits, labels)

    def nll(t: float) -> float:
        return -log_softmax(logits / t, axis=1)[np.arange(len(labels)), labels].mean()

    reference = minimize_scalar(nll, bounds=(0.05, 20), method="bounded").x
    assert temperature == pytest.approx(reference, rel=1e-3)
    assert temperature == pytest.approx(3.0, rel=0.15)


def test_scaling_lowers_ece_on_held_out_items_and_keeps_the_ranking():
    logits, labels = overconfident(3000, 2, 2.5, seed=1)
    temperature = fit_temperature(logits[:1500], labels[:1500])
    before = calibrated_softmax(logits[1500:], 1.0)
    after = calibrated_softmax(logits[1500:], temperature)
    held_out = labels[1500:]
    assert (
        calibration_errors(held_out, after)["ece"]
        < 0.5 * calibration_errors(held_out, before)["ece"]
    )
    assert (np.argsort(after[:, 1]) == np.argsort(before[:, 1])).all()


def test_one_class_only_keeps_the_temperature_finite():
    logits, _ = overconfident(50, 2, 1.0, seed=2)
    assert 0.05 <= fit_temperature(logits, np.ones(50, int)) <= 20


def test_probabilities_survive_the_round_trip_through_log_probabilities():
    probs = softmax(np.random.default_rng(3).normal(size=(20, 4)), axis=1)
    np.testing.assert_allclose(calibrated_softmax(log_probabilities(probs), 1.0), probs, atol=1e-12)


def test_top_label_ece_reads_the_confidence_of_the_arg_max_class():
    probs = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([0, 1, 1, 2])  # the 0.8-sure second item is wrong
    # bins: 0.7 → [0.7, 0.8) right; 0.8 twice → [0.8, 0.9) one right; 0.9 → last bin right
    expected = (1 * abs(1 - 0.7) + 2 * abs(0.5 - 0.8) + 1 * abs(1 - 0.9)) / 4
    assert top_label_ece(labels, probs) == pytest.approx(expected)
    binary = np.array([[0.3, 0.7], [0.6, 0.4]])
    assert calibration_errors(np.array([1, 0]), binary)["ece"] == pytest.approx(
        expected_calibration_error(np.array([1, 0]), binary[:, 1])
    )


def test_the_report_gives_the_change_with_an_interval_from_the_same_resamples():
    logits, labels = overconfident(400, 2, 3.0, seed=4)
    temperature = fit_temperature(logits, labels)
    before, after = calibrated_softmax(logits, 1.0), calibrated_softmax(logits, temperature)
    spec = EvaluateParams(bootstrap={"resamples": 200, "seed": 0})
    report = calibration_report(labels, before, after, np.arange(400) // 2, [temperature], spec)
    m, ci = report["metrics"], report["ci95"]
    assert m["ece_change"] == pytest.approx(m["ece_after"] - m["ece_before"])
    assert m["ece_change"] < 0 and ci["ece_change"]["high"] < 0  # a clear improvement
    assert ci["ece_change"]["low"] <= m["ece_change"] <= ci["ece_change"]["high"]
    assert report["temperature"] == temperature
