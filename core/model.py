"""The one model factory, used by training, evaluation and serving."""

from __future__ import annotations

import timm
import torch
from torch import nn

from core.labels import NUM_CLASSES

ARCHITECTURE = "efficientnet_b2"


def create_model(
    num_classes: int = NUM_CLASSES,
    drop_rate: float = 0.3,
    drop_path_rate: float = 0.1,
    zero_head: bool = True,
) -> nn.Module:
    """timm EfficientNet-B2 for 1-channel 48x48 faces, randomly initialised.

    ``zero_head`` zeroes the classifier: timm's default init gives logits of a
    few units, so the first loss is ~4.2 instead of ln(7) ~ 1.95 and training
    from scratch can sit at the majority class for epochs.
    """
    model = timm.create_model(
        ARCHITECTURE,
        pretrained=False,
        in_chans=1,
        num_classes=num_classes,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
    )
    if zero_head:
        classifier = model.get_classifier()
        nn.init.zeros_(classifier.weight)
        nn.init.zeros_(classifier.bias)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
