"""Self-distillation: soft targets from a trained model's test-time-augmented predictions.

The teacher (usually the weights the run starts from) sees every training face
once, through the serving classifier and its TTA views, and its averaged
probabilities are kept beside the run. Ten-crop TTA is worth about 1.8 test
points over a single view; training a student to match it is a way to move
some of that gain into a single forward pass. The loss side needs no helper:
``F.cross_entropy`` takes probability targets.
"""

from __future__ import annotations

from pathlib import Path

import torch

from core.classifier import EmotionClassifier
from core.preprocess import normalize, to_unit_float


@torch.inference_mode()
def teacher_probabilities(
    weights_path: str | Path, images: torch.Tensor, tta: str, device: torch.device
) -> tuple[torch.Tensor, str]:
    """Class probabilities (N, 7) of the verified weights at ``weights_path`` for uint8 faces (N, 48, 48)
    on ``device``, averaged over the TTA views; also the weights' sha256.

    Raises WeightsError for missing or altered weights, ValueError for an unknown TTA mode.
    """
    teacher = EmotionClassifier.load(weights_path, backend="torch")
    teacher.model.to(device)  # the serving model, moved beside the data (the GPU when training there)
    return teacher.predict_tensor(normalize(to_unit_float(images)), tta), teacher.card["sha256"]
