"""Clinical metrics, calibration and probabilities, checked against reference implementations
(scikit-learn), below every step that scores a model: validation in training, the evaluate step,
the export gate and predict. Importing them needs no torch (temperature fitting imports it when
called)."""
