"""Test-time augmentation on batched, normalised input tensors.

Flips and crops commute with the per-pixel normalisation, so views are built
after ``core.preprocess.preprocess``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

TTAMode = Literal["none", "flip", "tencrop"]
TTA_MODES: tuple[str, ...] = ("none", "flip", "tencrop")
CROP = 44  # ten-crop window inside the 48x48 face, resized back to 48


def tta_views(x: torch.Tensor, mode: TTAMode) -> torch.Tensor:
    """Stack the views of a batch (N, C, H, W) into (V * N, C, H, W), view-major."""
    if mode == "none":
        return x
    if mode == "flip":
        return torch.cat([x, x.flip(-1)])
    if mode == "tencrop":
        size = x.shape[-1]
        offsets = [(0, 0), (0, size - CROP), (size - CROP, 0), (size - CROP, size - CROP)]
        offsets.append(((size - CROP) // 2, (size - CROP) // 2))
        crops = [x[..., top : top + CROP, left : left + CROP] for top, left in offsets]
        crops = F.interpolate(torch.cat(crops), size=(size, size), mode="bilinear", align_corners=False)
        return torch.cat([crops, crops.flip(-1)])
    raise ValueError(f"unknown TTA mode {mode!r}; choose one of {TTA_MODES}")


def average_views(probabilities: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean over views of view-major probabilities (V * N, K) -> (N, K)."""
    return probabilities.view(-1, batch_size, probabilities.shape[-1]).mean(0)
