"""Grad-CAM explanations (pytorch-grad-cam) for any class of any face.

Target layer: at 48x48 input the last EfficientNet-B2 stage is only 2x2, which
gives a map of four blobs. We use the output of ``blocks[4]`` (stride 16: a
3x3 map, 120 channels, the last stage before the final downsampling) — see
``TARGET_LAYER``; the map is upsampled to the 48 px face. When no location of
that layer has positive evidence for the class (Grad-CAM's ReLU then leaves an
empty map; it happens for some confident faces from real photos), the map comes
from ``FALLBACK_LAYER`` (``blocks[5]``, 2x2) instead of showing nothing. Explanations run on
a private copy of the model under a lock, so concurrent predictions never see
the CAM hooks.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import cv2
import numpy as np
import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from core.classifier import EmotionClassifier
from core.preprocess import FaceLike, preprocess, to_face_array

CAM_METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "hirescam": HiResCAM}
TARGET_LAYER = "blocks.4"
FALLBACK_LAYER = "blocks.5"

_lock = threading.Lock()
_cam_models: dict[int, torch.nn.Module] = {}


def _cam_model(classifier: EmotionClassifier) -> torch.nn.Module:
    key = id(classifier.model)
    if key not in _cam_models:
        model = copy.deepcopy(classifier.model).eval()
        model = model.to(memory_format=torch.contiguous_format)
        _fold_batch_norms(model)
        _gradients_from(model, (TARGET_LAYER, FALLBACK_LAYER))
        _cam_models[key] = model
    return _cam_models[key]


def _fold_batch_norms(model: torch.nn.Module) -> None:
    """Fold every eval-mode BatchNorm into the convolution before it (what remains is the
    activation). A 48 px face is a tiny tensor, so each layer's cost is mostly per-op
    overhead: a third fewer ops makes an explanation ~14% faster. Outputs change by ~1e-7."""
    for parent in list(model.modules()):
        names = list(parent._modules)
        for conv_name, norm_name in itertools.pairwise(names):
            conv, norm = parent._modules[conv_name], parent._modules[norm_name]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                parent._modules[conv_name] = fuse_conv_bn_eval(conv, norm)
                # timm's BatchNormAct2d applies dropout (identity in eval) and the activation after the norm
                rest = [getattr(norm, part) for part in ("drop", "act") if hasattr(norm, part)]
                parent._modules[norm_name] = nn.Sequential(*rest)


def _gradients_from(model: torch.nn.Module, layers: tuple[str, ...]) -> None:
    """Backpropagate only what CAMs need: the gradients of the target layer's output.

    Every parameter is frozen and the input of the first target layer is made a leaf
    that requires grad, so backward skips all weight gradients and never reaches the
    high-resolution stem: an explanation costs a third less. The maps are unchanged.
    """
    model.requires_grad_(False)
    first = next(name for name, _ in model.named_modules() if name in layers)

    def track_gradients(_module, args):
        return (args[0].detach().requires_grad_(True), *args[1:])

    model.get_submodule(first).register_forward_pre_hook(track_gradients)


@contextmanager
def cam_extractor(classifier: EmotionClassifier, method: str = "gradcam", layer: str = TARGET_LAYER) -> Iterator:
    """Context manager yielding a pytorch-grad-cam object; its hooks are released on exit."""
    if method not in CAM_METHODS:
        raise ValueError(f"unknown CAM method {method!r}; choose one of {sorted(CAM_METHODS)}")
    with _lock:
        model = _cam_model(classifier)
        with CAM_METHODS[method](model=model, target_layers=[model.get_submodule(layer)]) as cam:
            yield cam


def _target_index(classifier: EmotionClassifier, target: int | str) -> int:
    if isinstance(target, str):
        if target not in classifier.labels:
            raise ValueError(f"unknown class {target!r}; choose one of {classifier.labels}")
        return classifier.labels.index(target)
    if not 0 <= int(target) < len(classifier.labels):
        raise ValueError(f"class index {target} out of range")
    return int(target)


def explain(
    classifier: EmotionClassifier, face: FaceLike, target: int | str | None = None, method: str = "gradcam"
) -> np.ndarray:
    """Heatmap (48, 48) float in [0, 1] for ``target`` (default: the predicted class)."""
    return explain_faces(classifier, [face], [target], method=method)[0]


def explain_faces(
    classifier: EmotionClassifier,
    faces: Sequence[FaceLike],
    targets: Sequence[int | str | None] | None = None,
    method: str = "gradcam",
) -> list[np.ndarray]:
    """Heatmaps for several faces in one batched pass (one target each; None = predicted class).

    Every map is the one ``explain`` gives for that face alone (CAM weights are per
    sample), but one pass over four faces costs far less than four passes of one.
    """
    if not faces:
        return []
    targets = [None] * len(faces) if targets is None else list(targets)
    if len(targets) != len(faces):
        raise ValueError(f"got {len(faces)} faces but {len(targets)} targets")
    x = preprocess(list(faces))
    predicted = classifier.predict_tensor(x).argmax(dim=1).tolist() if None in targets else None
    indices = [predicted[i] if t is None else _target_index(classifier, t) for i, t in enumerate(targets)]
    heatmaps = np.zeros((len(faces), *x.shape[2:]), np.float32)
    pending = list(range(len(faces)))
    for layer in (TARGET_LAYER, FALLBACK_LAYER):
        with cam_extractor(classifier, method, layer) as cam:
            maps = cam(input_tensor=x[pending], targets=[ClassifierOutputTarget(indices[i]) for i in pending])
        heatmaps[pending] = np.nan_to_num(maps)
        pending = [i for i in pending if heatmaps[i].max() <= 0]  # empty map: try the fallback layer
        if not pending:
            break
    return list(heatmaps)


def overlay_heatmap(face: FaceLike, heatmap: np.ndarray, alpha: float = 0.5, size: int | None = None) -> np.ndarray:
    """RGB uint8 image: the face (grayscale) with the heatmap (jet colours) blended at ``alpha``.

    ``size`` resizes the result (default: 48 px, the model's view of the face).
    """
    gray = to_face_array(face)
    if size and size != gray.shape[0]:
        gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC)
    heat = cv2.resize(heatmap.astype(np.float32), gray.shape[::-1], interpolation=cv2.INTER_CUBIC)
    colored = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)[:, :, ::-1]
    base = np.repeat(gray[:, :, None], 3, axis=2).astype(np.float32)
    alpha = float(np.clip(alpha, 0.0, 1.0))
    return np.clip(base * (1 - alpha) + colored.astype(np.float32) * alpha, 0, 255).astype(np.uint8)
