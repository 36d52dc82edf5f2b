"""The one preprocessing path from a face image to the model's input tensor.

Training, evaluation and serving all go through these functions, so there is
no train/serve skew:

    face (PIL / numpy, any size or mode) --to_face_array--> uint8 (48, 48)
    uint8 batch (N, 48, 48) --to_unit_float--> float [0, 1] (N, 1, 48, 48)
    float [0, 1] batch --normalize--> model input

Training inserts its augmentation between ``to_unit_float`` and ``normalize``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

INPUT_SIZE = 48
# FER-2013's training pixels have mean 0.508 and std 0.255; round figures are
# stored in the model card and are all the model needs.
MEAN = 0.5
STD = 0.25

FaceLike = Image.Image | np.ndarray


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale any numeric array to uint8 (16-bit and float images included)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        # 16-bit (and wider) integer images: map the dtype's range onto 0..255.
        info = np.iinfo(array.dtype)
        if info.max > 255:
            scale = 255.0 / (65535.0 if info.max >= 65535 else float(info.max))
            return np.clip(np.rint(array.astype(np.float64) * scale), 0, 255).astype(np.uint8)
        return np.clip(array, 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        # Floats are taken as [0, 1] images unless they are clearly 0..255.
        if finite.size and finite.max() > 1.0:
            return np.clip(np.rint(finite), 0, 255).astype(np.uint8)
        return np.clip(np.rint(finite * 255.0), 0, 255).astype(np.uint8)
    raise TypeError(f"unsupported image dtype {array.dtype}")


def _to_gray_pil(face: FaceLike) -> Image.Image:
    """Any PIL image or numpy array (H, W), (H, W, 1|3|4) to an 8-bit "L" image."""
    if isinstance(face, Image.Image):
        image = face
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            return Image.fromarray(_array_to_uint8(np.asarray(image)), mode="L")
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            # Composite transparent pixels onto white, as a viewer would show them.
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        return image.convert("L")
    array = np.asarray(face)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] == 4:
        rgb = _array_to_uint8(array[:, :, :3]).astype(np.float32)
        alpha = _array_to_uint8(array[:, :, 3]).astype(np.float32)[..., None] / 255.0
        array = np.rint(rgb * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 3:
        return Image.fromarray(_array_to_uint8(array), mode="RGB").convert("L")
    if array.ndim == 2:
        return Image.fromarray(_array_to_uint8(array), mode="L")
    raise ValueError(f"expected an image of shape (H, W) or (H, W, 1|3|4), got {array.shape}")


def to_face_array(face: FaceLike) -> np.ndarray:
    """Convert one face crop (PIL or numpy; any size, mode or bit depth) to uint8 (48, 48)."""
    gray = _to_gray_pil(face)
    if gray.width < 1 or gray.height < 1:
        raise ValueError("empty image")
    if gray.size != (INPUT_SIZE, INPUT_SIZE):
        # BOX when shrinking averages every source pixel (no aliasing); bilinear when enlarging.
        shrinking = gray.width > INPUT_SIZE or gray.height > INPUT_SIZE
        gray = gray.resize(
            (INPUT_SIZE, INPUT_SIZE),
            Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR,
        )
    return np.asarray(gray, dtype=np.uint8).copy()


def to_face_batch(faces: np.ndarray | Sequence[FaceLike]) -> np.ndarray:
    """A uint8 (N, 48, 48) array, or a sequence of images, to a uint8 (N, 48, 48) array."""
    if isinstance(faces, np.ndarray) and faces.dtype == np.uint8 and faces.ndim == 3:
        if faces.shape[1:] == (INPUT_SIZE, INPUT_SIZE):
            return faces
        return np.stack([to_face_array(face) for face in faces])
    if isinstance(faces, np.ndarray) and faces.ndim == 2:
        raise ValueError("expected a batch of faces (N, 48, 48); wrap a single face in a list")
    if len(faces) == 0:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    return np.stack([to_face_array(face) for face in faces])


def to_unit_float(faces_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, 48, 48) to float32 (N, 1, 48, 48) in [0, 1]."""
    tensor = torch.as_tensor(faces_uint8)
    if tensor.dtype != torch.uint8:
        raise TypeError(f"expected uint8 faces, got {tensor.dtype}")
    return tensor.unsqueeze(1).float().div_(255.0)


def normalize(unit: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] (N, 1, H, W) to the model's input distribution."""
    return (unit - MEAN) / STD


def preprocess(faces: np.ndarray | Sequence[FaceLike]) -> torch.Tensor:
    """Faces (uint8 (N, 48, 48) array or list of images) to the model input (N, 1, 48, 48)."""
    return normalize(to_unit_float(to_face_batch(faces)))
