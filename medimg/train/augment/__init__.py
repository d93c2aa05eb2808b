"""Training-time augmentation: batched 3D warps on the training device, albumentations for 2D."""
