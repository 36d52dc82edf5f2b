"""Load FER-2013 into memory from any of the forms users have.

Supported sources:
- Kaggle's image-folder layout, as a folder or a .zip:
  ``train/<class>/Training_*.jpg`` and ``test/<class>/{PublicTest,PrivateTest}_*.jpg``
- the original ``fer2013.csv`` (columns emotion, pixels, Usage).

Everything is decoded once into a uint8 array (N, 48, 48) through the shared
``core.preprocess.to_face_array`` and cached in ``.cache/`` (ignored by git).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from core.labels import LABELS
from core.preprocess import INPUT_SIZE, to_face_array

# fer2013.csv numbers its emotions in another order than the folder names.
CSV_EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
USAGES = ("Training", "PublicTest", "PrivateTest")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
CACHE_DIR = Path(os.environ.get("FER_CACHE_DIR", Path(__file__).resolve().parent.parent / ".cache"))
CACHE_VERSION = "1"


class DatasetLayoutError(ValueError):
    """The data set is not in a layout we can read; the message says what was found."""


@dataclass
class FerData:
    """FER-2013 in memory: one row per image."""

    images: np.ndarray  # uint8 (N, 48, 48)
    labels: np.ndarray  # int64 (N,), index into LABELS
    usage: np.ndarray  # str (N,): Training / PublicTest / PrivateTest
    names: np.ndarray  # str (N,): file name (or csv row id)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask_or_index: np.ndarray) -> FerData:
        return FerData(
            self.images[mask_or_index],
            self.labels[mask_or_index],
            self.usage[mask_or_index],
            self.names[mask_or_index],
        )

    def split(self, *usages: str) -> FerData:
        return self.subset(np.isin(self.usage, usages))

    @property
    def test(self) -> FerData:
        return self.split("PublicTest", "PrivateTest")

    @property
    def train(self) -> FerData:
        return self.split("Training")


def _usage_from_name(top: str, file_name: str) -> str:
    prefix = file_name.split("_", 1)[0]
    if prefix in USAGES:
        return prefix
    # Renamed files: fall back to the folder; test images then count as PrivateTest.
    return "Training" if top == "train" else "PrivateTest"


def _expected_layout() -> str:
    return (
        "expected Kaggle's FER-2013 layout: train/<class>/*.jpg and test/<class>/*.jpg "
        f"with classes {', '.join(LABELS)} (a folder or a .zip), or fer2013.csv "
        "with columns emotion, pixels, Usage"
    )


def _collect_members(paths: list[PurePosixPath]) -> list[tuple[PurePosixPath, str, int]]:
    """Pick (path, usage, label) for image files under train/<class>/ and test/<class>/.

    Tolerates one wrapping folder (``fer2013/train/...``), as some zips have.
    """
    found = []
    for path in paths:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        parts = path.parts
        if len(parts) >= 3 and parts[-3] in ("train", "test") and parts[-2] in LABELS:
            top, label = parts[-3], parts[-2]
            found.append((path, _usage_from_name(top, path.name), LABELS.index(label)))
    return found


def _describe(paths: list[PurePosixPath]) -> str:
    tops = sorted({p.parts[0] for p in paths if p.parts})[:10]
    second = sorted({"/".join(p.parts[:2]) for p in paths if len(p.parts) > 2})[:10]
    return f"top-level entries {tops or 'none'}; second level {second or 'none'}"


def _check_found(found: list, paths: list[PurePosixPath], source: Path) -> None:
    usages = {usage for _, usage, _ in found}
    if not found or "Training" not in usages or not usages & {"PublicTest", "PrivateTest"}:
        raise DatasetLayoutError(
            f"{source}: no FER-2013 train and test images found ({_describe(paths)}); " + _expected_layout()
        )


def _decode(data: bytes, where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return to_face_array(image)
    except Exception as error:
        raise DatasetLayoutError(f"cannot decode image {where}: {error}") from error


def _build(found_data: list[tuple[str, str, int, np.ndarray]]) -> FerData:
    found_data.sort(key=lambda row: (USAGES.index(row[1]), row[2], row[0]))
    return FerData(
        images=np.stack([row[3] for row in found_data]).astype(np.uint8),
        labels=np.array([row[2] for row in found_data], dtype=np.int64),
        usage=np.array([row[1] for row in found_data]),
        names=np.array([row[0] for row in found_data]),
    )


def _load_zip(path: Path) -> FerData:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise DatasetLayoutError(f"{path}: not a readable zip file ({error})") from error
    with archive:
        paths = [PurePosixPath(info.filename) for info in archive.infolist() if not info.is_dir()]
        found = _collect_members(paths)
        _check_found(found, paths, path)
        rows = [(p.name, usage, label, _decode(archive.read(str(p)), f"{path}:{p}")) for p, usage, label in found]
    return _build(rows)


def _load_folder(path: Path) -> FerData:
    paths = [PurePosixPath(p.relative_to(path).as_posix()) for p in path.rglob("*") if p.is_file()]
    found = _collect_members(paths)
    _check_found(found, paths, path)
    rows = [(p.name, usage, label, _decode((path / p).read_bytes(), str(path / p))) for p, usage, label in found]
    return _build(rows)


def _load_csv(path: Path) -> FerData:
    rows = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"emotion", "pixels"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetLayoutError(
                f"{path}: columns {reader.fieldnames} lack {sorted(missing)}; " + _expected_layout()
            )
        for number, row in enumerate(reader):
            try:
                emotion = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
                if not 0 <= emotion < len(CSV_EMOTIONS):
                    raise ValueError(f"emotion {emotion} is not in 0..6")
                if pixels.size != INPUT_SIZE * INPUT_SIZE or pixels.min() < 0 or pixels.max() > 255:
                    raise ValueError(f"expected 2304 pixel values in 0..255, got {pixels.size}")
            except ValueError as error:
                raise DatasetLayoutError(f"{path}: data row {number + 1}: {error}") from error
            usage = (row.get("Usage") or "Training").strip()
            if usage not in USAGES:
                raise DatasetLayoutError(f"{path}: data row {number + 1}: unknown Usage {usage!r}")
            face = to_face_array(pixels.reshape(INPUT_SIZE, INPUT_SIZE).astype(np.uint8))
            label = LABELS.index(CSV_EMOTIONS[emotion])
            rows.append((f"{usage}_{number:05d}", usage, label, face))
    if not rows:
        raise DatasetLayoutError(f"{path}: no data rows; " + _expected_layout())
    usages = {row[1] for row in rows}
    if "Training" not in usages or not usages & {"PublicTest", "PrivateTest"}:
        raise DatasetLayoutError(f"{path}: needs Training and PublicTest/PrivateTest rows, found {sorted(usages)}")
    return _build(rows)


def _cache_key(path: Path) -> str:
    stat = path.stat()
    if path.is_dir():
        # A folder's mtime does not change when files deep inside do; hash the listing.
        listing = sorted(f"{p.relative_to(path)}:{p.stat().st_size}" for p in path.rglob("*") if p.is_file())
        signature = "\n".join(listing)
    else:
        signature = f"{stat.st_size}:{stat.st_mtime_ns}"
    text = f"{CACHE_VERSION}|{path.resolve()}|{signature}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def load_fer2013(path: str | os.PathLike, cache: bool = True) -> FerData:
    """Load FER-2013 from a folder, a .zip or fer2013.csv (see module docstring)."""
    source = Path(path).expanduser()
    if not source.exists():
        raise FileNotFoundError(
            f"FER-2013 not found at {source}. Download it from Kaggle (the image-folder zip "
            "'msambare/fer2013' or the original fer2013.csv) and pass its path."
        )
    cache_file = CACHE_DIR / f"fer2013-{_cache_key(source)}.npz"
    if cache and cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as stored:
            return FerData(stored["images"], stored["labels"], stored["usage"], stored["names"])
    if source.is_dir():
        data = _load_folder(source)
    elif source.suffix.lower() == ".zip":
        data = _load_zip(source)
    elif source.suffix.lower() == ".csv":
        data = _load_csv(source)
    else:
        raise DatasetLayoutError(f"{source}: not a folder, .zip or .csv; " + _expected_layout())
    if cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        temporary = cache_file.with_suffix(".tmp.npz")
        np.savez(temporary, images=data.images, labels=data.labels, usage=data.usage, names=data.names)
        os.replace(temporary, cache_file)
    return data


def load_fer2013_or_report(path: str | os.PathLike) -> FerData | None:
    """``load_fer2013`` for command-line tools: a missing or unreadable data set prints one
    ``error:`` line to stderr and returns None (the tool then exits with status 2)."""
    try:
        return load_fer2013(path)
    except (FileNotFoundError, DatasetLayoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split into (train_index, val_index), sorted."""
    rng = np.random.default_rng(seed)
    train_parts, val_parts = [], []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        rng.shuffle(index)
        n_val = round(len(index) * val_fraction)
        val_parts.append(index[:n_val])
        train_parts.append(index[n_val:])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))
