"""EmotionClassifier: the shipped EfficientNet-B2 behind a small numpy API."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from core.labels import LABELS
from core.model import create_model
from core.preprocess import INPUT_SIZE, FaceLike, preprocess
from core.tta import TTA_MODES, TTAMode, average_views, tta_views
from core.weights import DEFAULT_WEIGHTS, WeightsError, load_state_dict


class EmotionClassifier:
    """Classify 48x48 grayscale face crops into the seven FER-2013 emotions.

    >>> clf = EmotionClassifier.load()              # the shipped model
    >>> clf.predict_proba(faces)                     # (N, 7), rows sum to 1
    """

    def __init__(self, model: torch.nn.Module, card: dict, batch_size: int = 256, runner=None) -> None:
        self.model = model.eval()  # PyTorch model: predictions (torch backend) and Grad-CAM
        self.card = card
        self.batch_size = batch_size
        self.labels: list[str] = list(card.get("labels", LABELS))
        self.runner = runner  # optional faster forward pass (ONNX Runtime)
        self.backend = "onnx" if runner is not None else "torch"

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | None = None,
        threads: int | None = None,
        backend: str = "torch",
    ) -> EmotionClassifier:
        """Load verified weights (the shipped model when ``path`` is None) for CPU inference.

        ``backend``: "torch", "onnx" (ONNX Runtime; the ONNX file is exported
        next to the weights on first use), or "auto" (onnx when onnxruntime is
        installed). Grad-CAM always runs on the PyTorch model.
        """
        if backend not in ("torch", "onnx", "auto"):
            raise ValueError(f"unknown backend {backend!r}; choose torch, onnx or auto")
        weights_path = Path(path) if path is not None else DEFAULT_WEIGHTS
        state_dict, card = load_state_dict(weights_path)
        if card.get("labels", LABELS) != LABELS:
            raise WeightsError(f"{weights_path}: labels {card.get('labels')} differ from {LABELS}")
        if threads:
            torch.set_num_threads(threads)
        network_size = card.get("network_size", INPUT_SIZE)  # cards before the option: 48
        try:
            model = create_model(drop_rate=0.0, drop_path_rate=0.0, zero_head=False, network_size=network_size)
        except ValueError as error:
            raise WeightsError(f"{weights_path}: model card: {error}") from error
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as error:
            raise WeightsError(
                f"{weights_path} does not fit EfficientNet-B2 (1 channel, 7 classes): {error}"
            ) from error
        model = model.to(memory_format=torch.channels_last).eval()
        runner = None
        from core import onnx_backend

        if backend == "onnx" or (backend == "auto" and onnx_backend.onnx_available()):
            onnx_path = onnx_backend.onnx_path_for(weights_path)
            if not onnx_backend.is_current(onnx_path, card["sha256"]):
                if not os.access(onnx_path.parent, os.W_OK):
                    onnx_path = Path(os.environ.get("FER_CACHE_DIR", ".cache")) / "onnx" / onnx_path.name
                if not onnx_backend.is_current(onnx_path, card["sha256"]):
                    onnx_backend.export_onnx(model, onnx_path, card["sha256"])
            runner = onnx_backend.OnnxRunner(onnx_path, threads)
        return cls(model, card, runner=runner)

    @torch.inference_mode()
    def predict_tensor(self, x: torch.Tensor, tta: TTAMode = "none") -> torch.Tensor:
        """Probabilities (N, 7) for a normalised input batch (N, 1, 48, 48)."""
        outputs = []
        for start in range(0, len(x), self.batch_size):
            chunk = x[start : start + self.batch_size]
            views = tta_views(chunk, tta).contiguous(memory_format=torch.channels_last)
            logits = self.runner(views) if self.runner is not None else self.model(views)
            probabilities = torch.softmax(logits.float(), dim=1)
            outputs.append(average_views(probabilities, len(chunk)))
        if not outputs:
            return torch.zeros((0, len(self.labels)))
        return torch.cat(outputs)

    def predict_proba(self, faces: np.ndarray | Sequence[FaceLike], tta: TTAMode | bool = "none") -> np.ndarray:
        """Faces as uint8 (N, 48, 48) or a list of images (any size/mode) -> float32 (N, 7).

        ``tta``: "none", "flip" (2 views) or "tencrop" (10 views); True means "flip".
        """
        mode = "flip" if tta is True else "none" if tta is False else tta
        if mode not in TTA_MODES:
            raise ValueError(f"unknown TTA mode {tta!r}; choose one of {TTA_MODES}")
        return self.predict_tensor(preprocess(faces), mode).numpy().astype(np.float32)

    def predict(self, faces: np.ndarray | Sequence[FaceLike], tta: TTAMode | bool = "none") -> list[str]:
        """Top label per face."""
        return [self.labels[i] for i in self.predict_proba(faces, tta).argmax(1)]
