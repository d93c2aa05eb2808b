"""Scheduled retraining: the champion/challenger rule, the registry's champion, snapshots."""
