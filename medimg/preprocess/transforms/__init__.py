"""Small, pure transforms. Intensity ones accept numpy arrays and torch tensors alike."""
