"""Export a run's best checkpoint as the shipped safetensors weights + model card.

fer-ship --run runs/b2            # -> core/weights/efficientnet_b2_fer2013.{safetensors,json}
                                    #    and results/efficientnet_b2/{history.csv,history.json,config.json}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import sys
from pathlib import Path

import torch

from core.labels import LABELS
from core.model import ARCHITECTURE, count_parameters, create_model
from core.preprocess import INPUT_SIZE, MEAN, STD
from core.weights import DEFAULT_WEIGHTS, save_weights

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results" / "efficientnet_b2"


def build_card(checkpoint: dict, parameters: int, parent: dict | None = None) -> dict:
    """The model card; ``parent`` is the card of the weights a warm-restart run started from."""
    history = checkpoint["history"]
    seconds = sum(row["seconds"] for row in history)
    card = {
        "name": "EfficientNet-B2 FER-2013 (trained from scratch)",
        "architecture": f"timm {ARCHITECTURE}, in_chans=1",
        "labels": LABELS,
        "input_size": [1, INPUT_SIZE, INPUT_SIZE],
        "network_size": checkpoint["config"].get("network_size", INPUT_SIZE),  # upsampled inside the model
        "normalization": {"mean": MEAN, "std": STD, "scale": "pixels / 255"},
        "parameters": parameters,
        "training": {
            "config": checkpoint["config"],
            "epochs_trained": len(history),
            "best_epoch": checkpoint["best"]["epoch"],
            "exported_weights": checkpoint["best"]["weights"],
            "val_acc": checkpoint["best"]["val_acc"],
            "val_macro_f1": checkpoint["best"]["val_macro_f1"],
            "train_hours": round(seconds / 3600, 3),
            "mean_images_per_second": round(sum(r["images_per_second"] for r in history) / len(history), 1),
            "torch": torch.__version__,
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        },
        "test_metrics": None,  # filled in by `fer-eval --update-card`
    }
    training = card["training"]
    training["total_epochs"], training["total_train_hours"] = training["epochs_trained"], training["train_hours"]
    if parent is not None:
        earlier = parent.get("training", {})
        training["initialised_from"] = {"sha256": parent.get("sha256"), "training": earlier}
        training["total_epochs"] += earlier.get("total_epochs", earlier.get("epochs_trained", 0))
        training["total_train_hours"] = round(
            training["train_hours"] + earlier.get("total_train_hours", earlier.get("train_hours", 0.0)), 3
        )
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export a training run's best checkpoint.")
    parser.add_argument("--run", default="runs/b2", help="run folder holding best.pt and history.json")
    parser.add_argument("--out", default=str(DEFAULT_WEIGHTS), help="safetensors path to write")
    parser.add_argument("--results", default=str(RESULTS_DIR), help="folder for history/config copies")
    parser.add_argument("--force", action="store_true", help="overwrite existing weights")
    args = parser.parse_args(argv)

    run, out = Path(args.run), Path(args.out)
    best_path = run / "best.pt"
    if not best_path.exists():
        print(f"error: {best_path} not found; train first with `fer-train --out-dir {run}`", file=sys.stderr)
        return 2
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to replace it", file=sys.stderr)
        return 2
    checkpoint = torch.load(best_path, map_location="cpu", weights_only=True)
    network_size = checkpoint["config"].get("network_size", INPUT_SIZE)
    model = create_model(zero_head=False, network_size=network_size)
    model.load_state_dict(checkpoint["model"])  # proves the state dict fits the factory
    parent = json.loads((run / "init_card.json").read_text()) if (run / "init_card.json").exists() else None
    card = save_weights(model.state_dict(), out, build_card(checkpoint, count_parameters(model), parent))

    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    for name in ("history.csv", "history.json", "config.json"):
        if (run / name).exists():
            shutil.copy2(run / name, results / name)
    split = json.loads((run / "split.json").read_text()) if (run / "split.json").exists() else None
    if split is not None:
        # The split is reproducible from (seed, val_fraction); record a fingerprint, not 28k names.
        fingerprint = hashlib.sha256("\n".join(split["val"]).encode()).hexdigest()
        (results / "split.json").write_text(json.dumps(
            {"seed": split["seed"], "val_fraction": split["val_fraction"], "n_train": len(split["train"]),
             "n_val": len(split["val"]), "val_names_sha256": fingerprint}, indent=1))  # fmt: skip
    print(f"wrote {out} (sha256 {card['sha256'][:12]}...) and its card; history in {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
