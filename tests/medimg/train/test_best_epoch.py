"""Early stopping on an exponential moving average of the validation metric (nnU-Net's rule)."""

import pytest

from medimg.train.validation import BestEpoch, smoothed

# a noisy run: one lucky epoch (1) on a small validation split, steady gains, then overfitting
NOISY_DICE = [0.50, 0.80, 0.52, 0.60, 0.66, 0.70, 0.72, 0.71, 0.66, 0.62, 0.60]


def replay(values, metric="dice", ema=0.0, patience=100):
    chosen = BestEpoch(metric, ema)
    for epoch, value in enumerate(values):
        if chosen.stale >= patience:
            break
        chosen.update(epoch, value)
    return chosen


def test_the_raw_metric_keeps_the_lucky_epoch_and_the_average_does_not():
    assert replay(NOISY_DICE).best_epoch == 1
    smooth = replay(NOISY_DICE, ema=0.6)
    assert smooth.best_epoch == 7 and smooth.best == pytest.approx(0.6908, abs=1e-4)


def test_patience_counts_epochs_without_a_better_average():
    raw = replay(NOISY_DICE, patience=4)
    assert raw.best_epoch == 1 and raw.stale == 4  # stopped after epoch 5, before the gains
    smooth = replay(NOISY_DICE, ema=0.6, patience=4)
    assert smooth.best_epoch == 7 and smooth.stale == 3


def test_the_average_starts_at_the_first_value_and_skips_epochs_without_the_metric():
    assert smoothed(None, 0.4, 0.9) == 0.4
    assert smoothed(0.4, None, 0.9) == 0.4  # AUC undefined on a one-class val batch
    assert smoothed(0.4, 0.6, 0.9) == pytest.approx(0.42)
    assert smoothed(0.4, 0.6, 0.0) == 0.6


def test_lower_is_better_for_the_loss():
    chosen = replay([1.0, 0.5, 0.9, 0.9], metric="loss", ema=0.5)
    assert chosen.best_epoch == 1 and chosen.best == pytest.approx(0.75)
