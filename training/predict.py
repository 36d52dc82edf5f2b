"""Batch prediction: every face in every image of a folder (or a list of files) to CSV.

    fer-predict photos/ --out predictions.csv
    fer-predict face1.png face2.jpg --whole-image        # inputs are already face crops

Unreadable files get a row with the error and do not stop the run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
from pathlib import Path

from tqdm import tqdm

from core.classifier import EmotionClassifier
from core.faces import MIN_FACE_SIZE, analyze
from core.images import ImageInputError
from core.weights import WeightsError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


def collect(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            files.append(path)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify the faces in images and write a CSV.")
    parser.add_argument("inputs", nargs="+", help="image files or folders")
    parser.add_argument("--out", help="CSV to write (default: standard output)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--weights", help="safetensors file (default: the shipped model)")
    parser.add_argument("--whole-image", action="store_true", help="treat each image as one face crop")
    parser.add_argument("--min-face-size", type=int, default=MIN_FACE_SIZE, help="smallest face to detect, in pixels")
    parser.add_argument("--tta", action="store_true", help="average with the horizontally flipped face")
    parser.add_argument("--backend", choices=["torch", "onnx", "auto"], default="auto",
                        help="classification backend; auto = ONNX Runtime when installed")  # fmt: skip
    args = parser.parse_args(argv)

    if args.out and Path(args.out).exists() and not args.force:
        print(f"error: {args.out} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    try:
        classifier = EmotionClassifier.load(args.weights, backend=args.backend)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = collect(args.inputs)
    if not files:
        print("error: no images found", file=sys.stderr)
        return 2

    header = ["file", "face", "x", "y", "w", "h", "label", "confidence", *classifier.labels, "error"]
    failures = 0
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open(args.out, "w", newline="")) if args.out else sys.stdout
        writer = csv.writer(handle)
        writer.writerow(header)
        for path in tqdm(files, disable=len(files) < 5 or not args.out, desc="images"):
            try:
                result = analyze(path, classifier, whole_image=True if args.whole_image else None,
                                 min_face_size=args.min_face_size, tta=args.tta)  # fmt: skip
            except ImageInputError as error:
                failures += 1
                writer.writerow([str(path), "", "", "", "", "", "", "", *[""] * len(classifier.labels), str(error)])
                continue
            if not result.faces:
                writer.writerow([str(path), 0, "", "", "", "", "", "", *[""] * len(classifier.labels), result.message])
            for index, face in enumerate(result.faces, start=1):
                probabilities = [f"{face.probabilities[label]:.6f}" for label in classifier.labels]
                writer.writerow([str(path), index, *face.box, face.label, f"{face.confidence:.6f}", *probabilities, ""])
    if failures:
        print(f"{failures} of {len(files)} files could not be read (see the error column)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
