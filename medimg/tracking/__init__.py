"""Experiment tracking in MLflow: runs, parameters, metrics and registered models."""
