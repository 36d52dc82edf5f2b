"""Self-distillation: soft targets from a trained model's test-time-augmented predictions.

The teacher (usually the weights the run starts from) sees every training face
once, through the same TTA views serving uses, and its averaged probabilities
are kept beside the run. Ten-crop TTA is worth about 1.8 test points over a
single view; training a student to match it is a way to move some of that gain
into a single forward pass.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from core.model import create_model
from core.preprocess import INPUT_SIZE, normalize, to_unit_float
from core.tta import TTA_MODES, average_views, tta_views
from core.weights import load_state_dict


@torch.inference_mode()
def teacher_probabilities(
    weights_path: str | Path, images: torch.Tensor, tta: str, batch_size: int, device: torch.device
) -> tuple[torch.Tensor, str]:
    """Class probabilities (N, 7) of the verified weights at ``weights_path`` for uint8 faces (N, 48, 48)
    on ``device``, averaged over the TTA views; also the weights' sha256. Raises WeightsError."""
    if tta not in TTA_MODES:
        raise ValueError(f"unknown teacher TTA {tta!r}; choose one of {TTA_MODES}")
    state, card = load_state_dict(weights_path)
    network_size = card.get("network_size", INPUT_SIZE)
    teacher = create_model(drop_rate=0.0, drop_path_rate=0.0, zero_head=False, network_size=network_size)
    teacher.load_state_dict(state)
    teacher = teacher.to(device).to(memory_format=torch.channels_last).eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        x = normalize(to_unit_float(images[start : start + batch_size]))
        views = tta_views(x, tta).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            probabilities = teacher(views).float().softmax(-1)
        outputs.append(average_views(probabilities, len(x)))
    return torch.cat(outputs), card["sha256"]


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum_k targets_k * log softmax(logits)_k."""
    return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()
