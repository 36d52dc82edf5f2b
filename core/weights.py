"""Shipped weights: safetensors plus a JSON model card, verified by sha256.

The model card sits next to the weights (same name, ``.json``) and records the
labels, input size, normalisation, training config, measured metrics and the
sha256 of the weights file. Loading refuses a file whose checksum differs, and
never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "efficientnet_b2_fer2013.safetensors"


class WeightsError(RuntimeError):
    """The weights file or its model card is missing, altered or unusable."""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_path_for(weights_path: str | os.PathLike) -> Path:
    return Path(weights_path).with_suffix(".json")


def read_card(weights_path: str | os.PathLike = DEFAULT_WEIGHTS) -> dict:
    """The model card of a weights file (no checksum check; see ``load_state_dict``)."""
    card_path = card_path_for(weights_path)
    if not card_path.exists():
        raise WeightsError(f"model card {card_path} is missing; it must sit next to {Path(weights_path).name}")
    try:
        return json.loads(card_path.read_text())
    except json.JSONDecodeError as error:
        raise WeightsError(f"model card {card_path} is not valid JSON: {error}") from error


def write_card(weights_path: str | os.PathLike, card: dict) -> Path:
    card_path = card_path_for(weights_path)
    temporary = card_path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(card, indent=2) + "\n")
    os.replace(temporary, card_path)
    return card_path


def save_weights(state_dict: dict[str, torch.Tensor], weights_path: str | os.PathLike, card: dict) -> dict:
    """Write safetensors + card (with the file's sha256); returns the card."""
    weights_path = Path(weights_path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    temporary = weights_path.with_suffix(".safetensors.tmp")
    save_file(tensors, str(temporary), metadata={"format": "pt"})
    os.replace(temporary, weights_path)
    card = {**card, "weights_file": weights_path.name, "sha256": sha256_of(weights_path)}
    write_card(weights_path, card)
    return card


def load_state_dict(weights_path: str | os.PathLike = DEFAULT_WEIGHTS) -> tuple[dict[str, torch.Tensor], dict]:
    """Load verified weights and their card; raise WeightsError with a clear message otherwise."""
    weights_path = Path(weights_path)
    if not weights_path.exists():
        raise WeightsError(
            f"weights file {weights_path} not found. The shipped model lives in core/weights/; "
            "train one with `fer-train` and write it with `fer-ship`."
        )
    card = read_card(weights_path)
    expected = card.get("sha256")
    actual = sha256_of(weights_path)
    if expected != actual:
        raise WeightsError(
            f"checksum mismatch for {weights_path}: the model card expects sha256 {expected}, "
            f"the file has {actual}. The file is corrupt or was altered; restore it (git checkout) "
            "or re-export it."
        )
    try:
        return load_file(str(weights_path), device="cpu"), card
    except Exception as error:
        raise WeightsError(f"cannot read {weights_path} as safetensors: {error}") from error
