"""Clinical metrics, calibration and probabilities, checked against reference implementations
(scikit-learn). Torch-free and below every step that scores a model: validation in training, the
evaluate step, the export gate and predict."""
