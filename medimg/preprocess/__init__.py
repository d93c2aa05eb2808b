"""Preprocessing: transforms and the recipes that turn a volume or picture into cached tensors."""
