"""Experiment planning, as nnU-Net does it: a fingerprint of the dataset, and the params that follow
from it by stated rules."""
