"""Metrics checked against reference implementations (scikit-learn)."""
