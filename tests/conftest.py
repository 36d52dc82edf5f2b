"""Fixtures generated on the fly: tiny FER-2013-shaped data sets and test photos.

Nothing from the real data set is used here; see test_shipped_model.py for the
check that runs when FER2013_PATH points at it.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.labels import LABELS
from training.data import CSV_EMOTIONS

PER_CLASS = {"Training": 8, "PublicTest": 2, "PrivateTest": 2}


def synthetic_faces(seed: int = 0) -> list[tuple[str, str, int, np.ndarray]]:
    """(file name, usage, label, uint8 48x48) with a class-dependent pattern, so classes differ."""
    rng = np.random.default_rng(seed)
    rows = []
    yy, xx = np.mgrid[0:48, 0:48]
    for label in range(len(LABELS)):
        for usage, count in PER_CLASS.items():
            for i in range(count):
                pattern = 127 + 80 * np.sin(xx * (label + 1) / 6.0 + yy / 9.0)
                face = np.clip(pattern + rng.normal(0, 12, (48, 48)), 0, 255).astype(np.uint8)
                rows.append((f"{usage}_{label}{i:03d}.png", usage, label, face))
    # FER-2013 has pixel-identical images across splits, some with conflicting labels: one here too.
    name, usage, label, _ = rows[-1]
    rows[-1] = (name, usage, label, rows[0][3].copy())
    return rows


def _write_folder(root: Path, rows) -> Path:
    for name, usage, label, face in rows:
        top = "train" if usage == "Training" else "test"
        folder = root / top / LABELS[label]
        folder.mkdir(parents=True, exist_ok=True)
        # PNG keeps pixels exact, so folder, zip and csv forms decode to the same arrays.
        Image.fromarray(face).save(folder / name)
    return root


@pytest.fixture(scope="session")
def fer_rows():
    return synthetic_faces()


@pytest.fixture(scope="session")
def fer_folder(tmp_path_factory, fer_rows) -> Path:
    return _write_folder(tmp_path_factory.mktemp("fer_folder") / "fer2013", fer_rows)


@pytest.fixture(scope="session")
def fer_zip(tmp_path_factory, fer_folder) -> Path:
    path = tmp_path_factory.mktemp("fer_zip") / "fer2013.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(fer_folder.rglob("*.png")):
            archive.write(file, file.relative_to(fer_folder).as_posix())
    return path


@pytest.fixture(scope="session")
def fer_csv(tmp_path_factory, fer_rows) -> Path:
    path = tmp_path_factory.mktemp("fer_csv") / "fer2013.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for _, usage, label, face in fer_rows:
            writer.writerow([CSV_EMOTIONS.index(LABELS[label]), " ".join(map(str, face.ravel())), usage])
    return path


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's public-domain astronaut photo (Eileen Collins), RGB 512x512."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def group_photo(astronaut) -> np.ndarray:
    """Four faces: the astronaut's face tiled 2x2 on a 640x480 canvas."""
    face = Image.fromarray(astronaut).crop((140, 30, 310, 200)).resize((200, 200))
    canvas = Image.new("RGB", (640, 480), (90, 110, 130))
    for x, y in [(20, 20), (400, 20), (20, 260), (400, 260)]:
        canvas.paste(face, (x, y))
    return np.asarray(canvas)


def encode(image: Image.Image | np.ndarray, fmt: str = "PNG", **kwargs) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def bad_inputs(astronaut: np.ndarray) -> dict[str, bytes]:
    """The bad-input corpus: each must give a clear error, never a crash."""
    jpeg = encode(astronaut, "JPEG")
    frames = [Image.new("RGB", (64, 64), c) for c in ("red", "green")]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    # A PNG header claiming 30000x30000 pixels: a decompression bomb.
    bomb = io.BytesIO()
    Image.new("1", (30000, 30000)).save(bomb, format="PNG")
    return {
        "empty": b"",
        "text": b"this is not an image, just text\n" * 10,
        "truncated_jpeg": jpeg[: len(jpeg) // 3],
        "corrupt_header": b"\x89PNG\r\n\x1a\n" + b"\x00" * 200,
        "animated_gif": gif.getvalue(),
        "bomb": bomb.getvalue(),
    }
