"""Batched data augmentation on float [0, 1] tensors (N, 1, H, W).

Everything is one tensor op over the batch (no per-sample PIL calls) and draws
its randomness from an explicit ``torch.Generator`` so that a resumed run
continues the exact same random stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
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
    # Batch mixing (the labels mix too, so the trainer applies it, see mix_batch): with probability
    # mix_prob a batch is blended with a shuffled copy of itself, by mixup or CutMix (a coin decides
    # when both alphas are > 0); the mixing weight is drawn from Beta(alpha, alpha).
    mix_prob: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0


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


def mix_batch(
    x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mixup or CutMix ``x`` with a shuffled copy of itself.

    Returns ``(mixed, partner, lam)``: sample ``i`` is ``lam`` parts itself and ``1 - lam``
    parts sample ``partner[i]``, so the loss is ``lam * CE(y) + (1 - lam) * CE(y[partner])``.
    ``lam`` is 1.0 (and ``x`` is returned as is) when the batch is not mixed.
    """
    n, _, h, w = x.shape
    enabled = cfg.mix_prob > 0 and (cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0)
    if not enabled or torch.rand(1, generator=generator).item() >= cfg.mix_prob:
        return x, torch.arange(n, device=x.device), 1.0
    use_cutmix = cfg.cutmix_alpha > 0 and (cfg.mixup_alpha <= 0 or torch.rand(1, generator=generator).item() < 0.5)
    alpha = cfg.cutmix_alpha if use_cutmix else cfg.mixup_alpha
    # torch has no seeded Beta sampler: seed numpy from our generator so a resumed run replays it.
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    partner = torch.randperm(n, generator=generator).to(x.device)
    if not use_cutmix:
        return lam * x + (1.0 - lam) * x[partner], partner, lam
    # CutMix: paste one box (area 1 - lam) from the partner; lam is recomputed from the clipped box.
    cut = math.sqrt(1.0 - lam)
    bh, bw = int(h * cut), int(w * cut)
    cy = int(torch.randint(0, h, (1,), generator=generator))
    cx = int(torch.randint(0, w, (1,), generator=generator))
    top, bottom = max(cy - bh // 2, 0), min(cy + bh // 2, h)
    left, right = max(cx - bw // 2, 0), min(cx + bw // 2, w)
    mixed = x.clone()
    mixed[:, :, top:bottom, left:right] = x[partner, :, top:bottom, left:right]
    lam = 1.0 - (bottom - top) * (right - left) / (h * w)
    return mixed, partner, lam
