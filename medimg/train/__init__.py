"""Staged training: parameter groups, schedules, checkpoints and the epoch loop."""
