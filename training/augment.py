"""Batched data augmentation on float [0, 1] tensors (N, 1, H, W).

Everything is one tensor op over the batch (no per-sample PIL calls) and draws
its randomness from an explicit ``torch.Generator`` so that a resumed run
continues the exact same random stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    flip: float = 0.5  # probability of a horizontal flip
    rotate_deg: float = 10.0  # rotation drawn from +-rotate_deg
    scale: tuple[float, float] = (0.85, 1.15)  # zoom; >1 crops in, <1 zooms out
    shift: float = 0.1  # translation as a fraction of the image size
    brightness: float = 0.2  # additive brightness in +-brightness
    contrast: float = 0.2  # contrast factor in 1 +- contrast
    erase: float = 0.25  # probability of random erasing one rectangle
    erase_area: tuple[float, float] = (0.02, 0.15)  # erased fraction of the image


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Return an augmented copy of ``x`` (float [0, 1], shape (N, C, H, W), on CPU or GPU)."""
    n, _, h, w = x.shape
    device = x.device

    # Geometric: one affine warp per sample (flip, rotation, zoom, shift) with grid_sample.
    angle = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg, generator) * math.pi / 180.0
    log_scale = _uniform(n, math.log(cfg.scale[0]), math.log(cfg.scale[1]), generator)
    inv_scale = torch.exp(-log_scale)  # the grid maps output -> input coordinates
    flip = torch.where(torch.rand(n, generator=generator) < cfg.flip, -1.0, 1.0)
    tx = _uniform(n, -cfg.shift, cfg.shift, generator) * 2.0
    ty = _uniform(n, -cfg.shift, cfg.shift, generator) * 2.0
    cos, sin = torch.cos(angle) * inv_scale, torch.sin(angle) * inv_scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], dim=1), torch.stack([sin * flip, cos, ty], dim=1)],
        dim=1,
    ).to(device=device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    # Photometric: contrast around each image's mean, then brightness.
    contrast = _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, generator).to(device).view(n, 1, 1, 1)
    brightness = _uniform(n, -cfg.brightness, cfg.brightness, generator).to(device).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean + brightness).clamp_(0.0, 1.0)

    # Random erasing: one rectangle of mid-grey noise per chosen sample, built with masks.
    if cfg.erase > 0:
        chosen = (torch.rand(n, generator=generator) < cfg.erase).to(device)
        area = _uniform(n, cfg.erase_area[0], cfg.erase_area[1], generator) * h * w
        aspect = torch.exp(_uniform(n, math.log(0.3), math.log(3.3), generator))
        eh = torch.sqrt(area * aspect).clamp(1, h).floor()
        ew = torch.sqrt(area / aspect).clamp(1, w).floor()
        top = (torch.rand(n, generator=generator) * (h - eh + 1)).floor()
        left = (torch.rand(n, generator=generator) * (w - ew + 1)).floor()
        rows = torch.arange(h).view(1, h, 1)
        cols = torch.arange(w).view(1, 1, w)
        inside = (
            (rows >= top.view(n, 1, 1))
            & (rows < (top + eh).view(n, 1, 1))
            & (cols >= left.view(n, 1, 1))
            & (cols < (left + ew).view(n, 1, 1))
        ).to(device)
        mask = (inside & chosen.view(n, 1, 1)).unsqueeze(1)
        noise = torch.rand(x.shape, generator=generator).to(device=device, dtype=x.dtype)
        x = torch.where(mask, noise, x)
    return x
