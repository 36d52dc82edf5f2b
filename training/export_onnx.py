"""`fer-export`: write the shipped model as ONNX (dynamic batch) and check it against PyTorch.

fer-export                                   # core/weights/efficientnet_b2_fer2013.onnx
fer-export --data ../shared/data/fer2013.zip # also compare on the full FER-2013 test set
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from core.classifier import EmotionClassifier
from core.onnx_backend import export_onnx, onnx_path_for
from core.weights import DEFAULT_WEIGHTS


def compare(
    torch_clf: EmotionClassifier, onnx_clf: EmotionClassifier, faces: np.ndarray, labels: np.ndarray | None
) -> dict:
    a = torch_clf.predict_proba(faces)
    b = onnx_clf.predict_proba(faces)
    result = {
        "images": len(faces),
        "max_abs_diff": float(np.abs(a - b).max()),
        "same_top1": float((a.argmax(1) == b.argmax(1)).mean()),
    }
    if labels is not None:
        result["torch_accuracy"] = float((a.argmax(1) == labels).mean())
        result["onnx_accuracy"] = float((b.argmax(1) == labels).mean())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the shipped model to ONNX and verify it.")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--out", help="ONNX path (default: next to the weights)")
    parser.add_argument("--data", default=os.environ.get("FER2013_PATH"), help="compare on the FER-2013 test set")
    args = parser.parse_args(argv)

    torch_clf = EmotionClassifier.load(args.weights)
    out = Path(args.out) if args.out else onnx_path_for(args.weights)
    export_onnx(torch_clf.model, out, torch_clf.card["sha256"])
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    from core.onnx_backend import OnnxRunner

    onnx_clf = EmotionClassifier(torch_clf.model, torch_clf.card, runner=OnnxRunner(out))
    if args.data:
        from training.data import load_fer2013

        test = load_fer2013(args.data).test
        faces, labels = test.images, test.labels
    else:
        faces, labels = np.random.default_rng(0).integers(0, 256, (512, 48, 48), dtype=np.uint8), None
    result = compare(torch_clf, onnx_clf, faces, labels)
    print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
    if result["max_abs_diff"] > 1e-4:
        print("error: ONNX Runtime and PyTorch differ by more than 1e-4", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
