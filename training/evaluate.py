"""Evaluate a model on the official FER-2013 test set (PublicTest + PrivateTest).

    fer-eval --data ../shared/data/fer2013.zip                  # the shipped model
    fer-eval --data ... --weights my.safetensors --out results/mine

Reports accuracy on all 7,178 test images, on PublicTest and on PrivateTest,
each without TTA, with flip and with ten-crop; per-class precision / recall /
F1, macro-F1 and the confusion matrix. Writes ``metrics.json`` and
``predictions.csv`` (one row per test and validation image) for the dashboard.
The test set is never used for any training choice.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from core.classifier import EmotionClassifier
from core.labels import LABELS, NUM_CLASSES
from core.preprocess import INPUT_SIZE
from core.tta import TTA_MODES
from core.weights import DEFAULT_WEIGHTS, write_card
from training.data import load_fer2013_or_report, stratified_split
from training.metrics import accuracy, confusion_matrix, per_class_scores
from training.ship import RESULTS_DIR

SPLITS = ("all", "PublicTest", "PrivateTest")


def summarize(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    confusion = confusion_matrix(y_true, y_pred, NUM_CLASSES)
    scores = per_class_scores(confusion)
    return {
        "n": len(y_true),
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": float(scores["f1"].mean()),
        "per_class": {
            label: {k: float(scores[k][i]) for k in ("precision", "recall", "f1")}
            | {"support": int(scores["support"][i])}
            for i, label in enumerate(LABELS)
        },
        "confusion": confusion.tolist(),
    }


def evaluate(
    classifier: EmotionClassifier, images: np.ndarray, labels: np.ndarray, usage: np.ndarray
) -> tuple[dict, dict]:
    """Metrics per TTA mode and split, plus the probabilities per mode."""
    metrics, probabilities = {}, {}
    for mode in TTA_MODES:
        started = time.time()
        probabilities[mode] = classifier.predict_proba(images, tta=mode)
        predicted = probabilities[mode].argmax(1)
        metrics[mode] = {}
        for split in SPLITS:
            mask = np.ones(len(labels), bool) if split == "all" else usage == split
            metrics[mode][split] = summarize(labels[mask], predicted[mask])
        print(f"  {mode:8s} {time.time() - started:6.1f}s", file=sys.stderr, flush=True)
    return metrics, probabilities


def format_report(metrics: dict) -> str:
    lines = ["accuracy        all    PublicTest  PrivateTest  macro-F1(all)"]
    for mode in TTA_MODES:
        m = metrics[mode]
        lines.append(
            f"  {mode:9s} {m['all']['accuracy'] * 100:6.2f}%   {m['PublicTest']['accuracy'] * 100:6.2f}%"
            f"     {m['PrivateTest']['accuracy'] * 100:6.2f}%      {m['all']['macro_f1']:.4f}"
        )
    base = metrics["none"]["all"]
    lines += ["", "per class (all test images, no TTA)", "  class      precision  recall   F1     support"]
    for label in LABELS:
        c = base["per_class"][label]
        lines.append(f"  {label:9s}  {c['precision']:.3f}      {c['recall']:.3f}    {c['f1']:.3f}  {c['support']:6d}")
    lines += ["", "confusion (rows true, columns predicted): " + " ".join(l[:3] for l in LABELS)]
    for label, row in zip(LABELS, base["confusion"], strict=True):
        lines.append(f"  {label:9s} " + " ".join(f"{v:4d}" for v in row))
    return "\n".join(lines)


# Published anchors on the same 7,178 test images (see README for sources).
REFERENCES = (
    ("Paper: EfficientNet-B2 (arXiv 2601.18228)", "9.2M", "68.78", "-", "-"),
    ("`fer` package mini-Xception (checkpoint chosen on this test set)", "58k", "65.55", "65.23", "65.87"),
    ("EfficientNet-B2, ImageNet-pretrained, 224 px (ResidualMaskingNetwork benchmark)", "7.7M", "70.8", "-", "-"),
    ("VGG from scratch, 48 px, ten-crop (Khaireddin & Chen 2021)", "~40M", "73.28", "-", "-"),
    ("Human agreement", "-", "~65 ± 5", "-", "-"),
)


OPTIMIZER_NAMES = {"adamw": "AdamW", "sgd": "SGD (Nesterov momentum 0.9)"}


def optimizer_name(run_config: dict) -> str:
    """How the card names a run's optimizer; configs from before the option trained with AdamW."""
    optimizer = run_config.get("optimizer", "adamw")
    return OPTIMIZER_NAMES.get(optimizer, optimizer)


def format_markdown(metrics: dict, card: dict) -> str:
    """The README's model-card tables, generated from the measured metrics (never typed by hand)."""
    pct = lambda v: f"{v * 100:.2f}"  # noqa: E731
    training = card.get("training", {})
    config = training.get("config", {})
    params = card.get("parameters", 0) / 1e6
    # The chain of runs behind the weights: from scratch, then any warm restarts.
    runs, node = [], training
    while node:
        run_config = node.get("config", {})
        lr = str(run_config.get("lr", "?"))
        if run_config.get("optimizer", "adamw") != "adamw":  # configs from before the option are AdamW
            lr += f" with {optimizer_name(run_config)}"
        if run_config.get("swa_start"):
            swa_lr = f" at lr {run_config['swa_lr']}" if run_config.get("swa_lr") else ""
            lr += f" (SWA from epoch {run_config['swa_start']}{swa_lr})"
        if run_config.get("teacher_weights"):
            teacher = run_config["teacher_weights"]
            source = "the weights it started from" if teacher == run_config.get("init_weights") else Path(teacher).name
            # Set together with teacher_weights (all three came in one release), so read directly.
            lr += f", distilled from {source} with {run_config['teacher_tta']} TTA (weight {run_config['distill_weight']})"
        runs.insert(0, (node.get("epochs_trained", "?"), lr))
        node = node.get("initialised_from", {}).get("training")
    restart = (
        f": {runs[0][0]} from scratch at peak lr {runs[0][1]}, then warm restarts of "
        + ", ".join(f"{epochs} epochs at peak lr {lr}" for epochs, lr in runs[1:])
        if len(runs) > 1
        else ""
    )
    size = card.get("network_size", INPUT_SIZE)
    resolution = f"{INPUT_SIZE} px" + ("" if size == INPUT_SIZE else f" faces upsampled to {size} px inside the model")
    weights, val = training.get("exported_weights", "?"), pct(training.get("val_acc", 0))
    if weights in ("ema", "raw"):
        exported = f"best epoch {training.get('best_epoch', '?')} by validation accuracy ({val}%, {weights} weights)"
    else:  # e.g. fer-average's weight average or the trainer's SWA average
        exported = f"exported weights: {weights} after epoch {training.get('best_epoch', '?')} (validation {val}%)"
    names = {"none": "no TTA", "flip": "flip TTA", "tencrop": "ten-crop TTA"}
    lines = [
        "| Model | Params | All 7,178 | PublicTest | PrivateTest | Macro-F1 (all) |",
        "|---|---|---|---|---|---|",
    ]
    for mode in TTA_MODES:
        m = metrics[mode]
        lines.append(
            f"| **Ours**, EfficientNet-B2 from scratch, {names[mode]} | {params:.2f}M | **{pct(m['all']['accuracy'])}** "
            f"| {pct(m['PublicTest']['accuracy'])} | {pct(m['PrivateTest']['accuracy'])} | {m['all']['macro_f1']:.3f} |"
        )
    for name, n_params, acc_all, public, private in REFERENCES:
        lines.append(f"| {name} | {n_params} | {acc_all} | {public} | {private} | - |")
    base = metrics["none"]["all"]["per_class"]
    lines += [
        "",
        "Per class, all test images, no TTA:",
        "",
        "| | " + " | ".join(LABELS) + " |",
        "|---" * (len(LABELS) + 1) + "|",
        "| precision | " + " | ".join(f"{base[label]['precision']:.3f}" for label in LABELS) + " |",
        "| recall | " + " | ".join(f"{base[label]['recall']:.3f}" for label in LABELS) + " |",
        "| F1 | " + " | ".join(f"{base[label]['f1']:.3f}" for label in LABELS) + " |",
        "| support | " + " | ".join(str(base[label]["support"]) for label in LABELS) + " |",
        "",
        f"Training: {training.get('total_epochs', training.get('epochs_trained', '?'))} epochs at {resolution} on a "
        f"2-core CPU ({training.get('total_train_hours', training.get('train_hours', '?'))} hours, "
        f"{training.get('mean_images_per_second', '?')} images/s){restart}"
        f"; batch {config.get('batch_size', '?')}, {optimizer_name(config)} "
        f"wd {config.get('weight_decay', '?')}, "
        f"label smoothing {config.get('label_smoothing', '?')}, class weights clipped to "
        f"{list(config.get('class_weight_clip', []))}, dropout {config.get('drop_rate', '?')}; "
        f"{exported}.",
    ]
    return "\n".join(lines)


def write_predictions(path: Path, rows: list[tuple], probabilities: dict[str, np.ndarray]) -> None:
    header = ["file", "split", "true", "pred", "pred_flip", "pred_tencrop", *(f"p_{l}" for l in LABELS)]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, (name, split, true) in enumerate(rows):
            p = probabilities["none"][i]
            writer.writerow([
                name, split, LABELS[true], LABELS[int(p.argmax())],
                LABELS[int(probabilities["flip"][i].argmax())], LABELS[int(probabilities["tencrop"][i].argmax())],
                *(f"{v:.6f}" for v in p),
            ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate on the official FER-2013 test set.")
    parser.add_argument("--data", default=os.environ.get("FER2013_PATH"), help="folder, .zip or fer2013.csv")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="safetensors file (card next to it)")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="folder for metrics.json and predictions.csv")
    parser.add_argument("--update-card", action="store_true", help="record the test metrics in the model card")
    args = parser.parse_args(argv)
    if not args.data:
        print("error: pass --data PATH or set FER2013_PATH", file=sys.stderr)
        return 2

    classifier = EmotionClassifier.load(args.weights)
    data = load_fer2013_or_report(args.data)
    if data is None:
        return 2
    test = data.test
    # Validation split (same seeded split as training) for temperature scaling in the dashboard.
    training = classifier.card.get("training", {}).get("config", {})
    train = data.train
    _, val_index = stratified_split(train.labels, training.get("val_fraction", 0.125), training.get("seed", 42))
    val = train.subset(val_index)

    print(f"evaluating {args.weights} on {len(test)} test images", file=sys.stderr)
    metrics, probabilities = evaluate(classifier, test.images, test.labels, test.usage)
    val_probabilities = classifier.predict_proba(val.images)
    val_metrics = summarize(val.labels, val_probabilities.argmax(1))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "weights": Path(args.weights).name,
        "sha256": classifier.card.get("sha256"),
        "test": metrics,
        "validation": val_metrics,
    }
    (out / "metrics.json").write_text(json.dumps(report, indent=1))
    rows = [(n, s, int(t)) for n, s, t in zip(test.names, test.usage, test.labels, strict=True)]
    rows += [(n, "Validation", int(t)) for n, t in zip(val.names, val.labels, strict=True)]
    all_probabilities = {
        mode: np.concatenate(
            [
                probabilities[mode],
                val_probabilities if mode == "none" else classifier.predict_proba(val.images, tta=mode),
            ]
        )
        for mode in TTA_MODES
    }
    write_predictions(out / "predictions.csv", rows, all_probabilities)

    text = format_report(metrics)
    print(text)
    print(
        f"\nvalidation ({len(val)} images): accuracy {val_metrics['accuracy'] * 100:.2f}%  macro-F1 {val_metrics['macro_f1']:.4f}"
    )
    (out / "report.txt").write_text(text + "\n")
    (out / "model_card.md").write_text(format_markdown(metrics, classifier.card) + "\n")
    if args.update_card:
        card = dict(classifier.card)
        card["test_metrics"] = {
            mode: {
                split: {
                    "accuracy": round(metrics[mode][split]["accuracy"], 6),
                    "macro_f1": round(metrics[mode][split]["macro_f1"], 6),
                }
                for split in SPLITS
            }
            for mode in TTA_MODES
        }
        card["test_metrics"]["per_class_recall"] = {
            label: round(metrics["none"]["all"]["per_class"][label]["recall"], 4) for label in LABELS
        }
        write_card(args.weights, card)
        print(f"recorded test metrics in {Path(args.weights).with_suffix('.json')}", file=sys.stderr)
    print(f"wrote {out / 'metrics.json'} and {out / 'predictions.csv'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
