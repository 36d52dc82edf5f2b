"""Face detection quality and speed: recall on FER-2013 faces pasted into photos, false faces
on face-free images, and time per 640x480 photo, for the default first pass and a finer one.

    python -m demo.detection_benchmark --data $FER2013_PATH
    python -m demo.detection_benchmark --data fer2013.zip --composites 100

Needs scikit-image (the dev extra) for its public-domain background photos. Everything is
seeded: the same command prints the same counts. FER-2013 faces are tight crops, which Haar
cascades find less often than faces in real photos, so recall here is a relative figure.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from PIL import Image

from core.faces import MIN_FACE_SIZE, box_iou, detect_faces

SIZE = (640, 480)
PASSES = {"coarse 1.15 / 3 (default)": (1.15, 3), "fine 1.1 / 5": (1.1, 5)}
BACKGROUNDS = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "text", "retina")
# scikit-image samples bundled with the wheel (others need a download, impossible here)
NEGATIVES = (
    "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "page", "moon", "brick", "grass",
    "gravel", "text", "retina", "cell", "clock", "coins", "colorwheel", "microaneurysms", "logo", "cat", "checkerboard",
)  # fmt: skip


def _sample_images(names) -> list[np.ndarray]:
    """8-bit scikit-image sample photos as RGB; names this version lacks are skipped."""
    from skimage import data

    images = []
    for name in names:
        loader = getattr(data, name, None)
        image = np.asarray(loader()) if loader else None
        if image is not None and image.dtype == np.uint8:
            images.append(np.asarray(Image.fromarray(image).convert("RGB")))
    return images


def composites(faces: np.ndarray, count: int, seed: int = 0) -> list[tuple[np.ndarray, list[tuple]]]:
    """640x480 photos with 1-3 FER faces (60-180 px) pasted in, and their boxes."""
    rng = np.random.default_rng(seed)
    backgrounds = [np.asarray(Image.fromarray(b).resize(SIZE)) for b in _sample_images(BACKGROUNDS)]
    photos = []
    for i in range(count):
        canvas = Image.fromarray(backgrounds[i % len(backgrounds)].copy())
        truth = []
        for k in range(1 + i % 3):
            side = int(rng.integers(60, 180))
            face = Image.fromarray(faces[int(rng.integers(len(faces)))]).resize((side, side)).convert("RGB")
            x, y = 20 + k * 210, int(rng.integers(0, SIZE[1] - side))
            canvas.paste(face, (x, y))
            truth.append((x, y, side, side))
        photos.append((np.asarray(canvas), truth))
    return photos


def negatives(seed: int = 3, crops_per_image: int = 4) -> list[np.ndarray]:
    """Face-free photos: random crops (50-100% of each side) of scikit-image samples, resized to 640x480."""
    rng = np.random.default_rng(seed)
    out = []
    for image in _sample_images(NEGATIVES):
        h, w = image.shape[:2]
        for _ in range(crops_per_image):
            s = rng.uniform(0.5, 1.0)
            ch, cw = int(h * s), int(w * s)
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            out.append(np.asarray(Image.fromarray(image[y : y + ch, x : x + cw]).resize(SIZE)))
    return out


def evaluate(photos, empty, scale_factor: float, min_neighbors: int) -> dict:
    found = missed = false = 0
    seconds = 0.0
    for image, truth in photos:
        started = time.perf_counter()
        boxes = detect_faces(image, MIN_FACE_SIZE, scale_factor=scale_factor, min_neighbors=min_neighbors)
        seconds += time.perf_counter() - started
        matched = set()
        for box in boxes:
            # a detected box sits inside the tight FER crop: a modest overlap is a hit
            hits = [j for j, t in enumerate(truth) if box_iou(box, t) > 0.25]
            if hits:
                matched.add(hits[0])
            else:
                false += 1
        found += len(matched)
        missed += len(truth) - len(matched)
    false_empty = sum(
        len(detect_faces(image, scale_factor=scale_factor, min_neighbors=min_neighbors)) for image in empty
    )
    return {
        "recall": found / (found + missed), "found": found, "faces": found + missed, "false_in_composites": false,
        "false_on_empty": false_empty, "empty_images": len(empty), "ms_per_photo": 1000 * seconds / len(photos),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure face detection recall, false faces and speed.")
    parser.add_argument("--data", default=os.environ.get("FER2013_PATH", ""), help="FER-2013 folder, .zip or csv")
    parser.add_argument("--composites", type=int, default=250, help="photos with 1-3 pasted faces")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("pass --data PATH or set FER2013_PATH")
    try:
        import skimage  # noqa: F401
    except ImportError:
        parser.error('needs scikit-image for its sample photos: pip install -e ".[dev]"')
    from training.data import load_fer2013

    test = load_fer2013(args.data).test
    photos, empty = composites(test.images, args.composites), negatives()
    print(f"{len(photos)} composites, {sum(len(t) for _, t in photos)} faces; {len(empty)} face-free photos; "
          f"minimum face {MIN_FACE_SIZE} px")  # fmt: skip
    for name, (scale_factor, min_neighbors) in PASSES.items():
        r = evaluate(photos, empty, scale_factor, min_neighbors)
        print(f"{name:26s} recall {r['recall']:.1%} ({r['found']}/{r['faces']})  false faces: "
              f"{r['false_in_composites']} in composites, {r['false_on_empty']} on face-free photos  "
              f"{r['ms_per_photo']:.1f} ms per photo")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
