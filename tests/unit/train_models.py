"""Small PyTorch models for the training tests, loadable as ``train_models:NAME``."""

from torch import nn


def small_cnn() -> nn.Sequential:
    """No batch norm, so one process and two DDP processes train identically."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )
