"""Open user images safely: clear errors for bad files, EXIF orientation, size limits."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 50_000_000  # refuse above this (decompression bombs); 50 MP covers any phone photo
MAX_SIDE = 2048  # larger images are downscaled before analysis: faces stay far above 48 px


class ImageInputError(ValueError):
    """The input is not an image we can analyse; the message is meant for the user."""


def _open(source: str | os.PathLike | bytes) -> Image.Image:
    if isinstance(source, bytes | bytearray):
        if len(source) == 0:
            raise ImageInputError("The file is empty (0 bytes).")
        stream = io.BytesIO(source)
        name = "the upload"
    else:
        path = Path(source)
        if not path.exists():
            raise ImageInputError(f"File not found: {path}")
        if path.stat().st_size == 0:
            raise ImageInputError(f"{path.name} is empty (0 bytes).")
        stream = io.BytesIO(path.read_bytes())
        name = path.name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageInputError(f"{name} is too large to decode safely ({error}).") from error
    except UnidentifiedImageError as error:
        raise ImageInputError(
            f"{name} is not an image we can read (or it is corrupt). Use a JPEG, PNG, WebP, BMP or TIFF photo."
        ) from error


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode (CMYK, 16-bit, palette, alpha) to 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image)
        if array.dtype.kind == "f":
            array = np.clip(np.nan_to_num(array), 0, None)
        peak = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        if image.mode == "I" and peak <= 255:
            peak = 255.0
        gray = np.clip(np.rint(array.astype(np.float64) * (255.0 / peak)), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(source: str | os.PathLike | bytes | Image.Image | np.ndarray, max_side: int = MAX_SIDE) -> Image.Image:
    """Open a path, bytes, PIL image or array as an upright 8-bit RGB PIL image.

    Raises ImageInputError with a user-facing message for empty, corrupt,
    truncated, non-image, animated or oversized inputs.
    """
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3) or source.size == 0:
            raise ImageInputError(f"Expected an image array (H, W) or (H, W, C), got shape {source.shape}.")
        from core.preprocess import _array_to_uint8  # one scaling rule for arrays

        array = _array_to_uint8(source)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        if array.ndim == 3 and array.shape[2] not in (3, 4):
            raise ImageInputError(f"Expected 1, 3 or 4 channels, got {array.shape[2]}.")
        image = Image.fromarray(array)
    elif isinstance(source, Image.Image):
        image = source
    else:
        image = _open(source)
        if getattr(image, "n_frames", 1) > 1 and getattr(image, "is_animated", False):
            raise ImageInputError("Animated images (GIF/WebP/APNG) are not supported: upload a single still photo.")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageInputError(
            f"The image is {width}x{height} ({width * height / 1e6:.0f} MP); the limit is {MAX_PIXELS / 1e6:.0f} MP."
        )
    if width < 1 or height < 1:
        raise ImageInputError("The image has no pixels.")
    try:
        if image.format == "JPEG":
            # Decode huge JPEGs at a reduced scale directly (much faster, less memory).
            image.draft("RGB", (max_side, max_side))
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageInputError(f"The image is corrupt or truncated ({error}).") from error
    image = _to_rgb(image)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image
