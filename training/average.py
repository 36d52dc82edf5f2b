"""Average a warm-restart run's final weights with the weights it started from.

    fer-average --run runs/b2-mix --out-dir runs/b2-mix-avg     # then: fer-ship --run runs/b2-mix-avg

Both endpoints come from one lineage (the run was started with --init-weights), so their
average is a model of its own that often validates better than either (weight-space
ensembling). The result is measured on the run's own validation split and written as a run
folder (best.pt, history, config, init card), so `fer-ship` exports it unchanged and its card
reports the real validation figure and the whole training cost.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from core.labels import LABELS
from core.model import create_model
from core.weights import WeightsError, load_state_dict
from training.config import TrainConfig
from training.data import load_fer2013_or_report, stratified_split
from training.train import atomic_save, validate


def average_states(final: dict, initial: dict, alpha: float) -> dict:
    """``alpha * final + (1 - alpha) * initial`` for float tensors; counters are taken from ``final``."""
    return {
        key: alpha * value + (1.0 - alpha) * initial[key].to(value.dtype) if value.is_floating_point() else value
        for key, value in final.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Average a warm-restart run with its starting weights.")
    parser.add_argument("--run", required=True, help="run folder started with --init-weights (holds last.pt)")
    parser.add_argument("--out-dir", required=True, help="new run folder for the averaged model")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the run's final weights (0-1]")
    parser.add_argument(
        "--final",
        choices=("ema", "swa", "raw"),
        default="ema",
        help="which of the run's final weights to average (ema falls back to raw without EMA)",
    )
    parser.add_argument("--data", default="", help="FER-2013 path (default: the one the run used)")
    args = parser.parse_args(argv)

    run, out_dir = Path(args.run), Path(args.out_dir)
    if not 0.0 < args.alpha <= 1.0:
        print("error: --alpha must be in (0, 1]", file=sys.stderr)
        return 2
    if not (run / "last.pt").exists():
        print(f"error: {run / 'last.pt'} not found", file=sys.stderr)
        return 2
    if (out_dir / "best.pt").exists():
        print(f"error: {out_dir / 'best.pt'} exists; choose another --out-dir", file=sys.stderr)
        return 2
    checkpoint = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    cfg = TrainConfig.from_dict(checkpoint["config"])
    if not cfg.init_weights or not (run / "init_card.json").exists():
        print(f"error: {run} was not started from --init-weights; there is nothing to average with", file=sys.stderr)
        return 2
    try:
        initial, card = load_state_dict(cfg.init_weights)
    except WeightsError as error:
        print(f"error: the run's --init-weights: {error}", file=sys.stderr)
        return 2
    # The file may have been replaced since the run started (e.g. a newer model shipped over it).
    parent = json.loads((run / "init_card.json").read_text())
    if card.get("sha256") != parent.get("sha256"):
        print(f"error: {cfg.init_weights} is no longer the file {run} started from (sha256 differs)", file=sys.stderr)
        return 2
    kind = "raw" if args.final == "ema" and checkpoint.get("ema") is None else args.final
    if kind == "swa" and checkpoint.get("swa") is None:
        print(f"error: {run} has no SWA weights (train with --swa-start)", file=sys.stderr)
        return 2
    final = checkpoint["model" if kind == "raw" else kind]
    averaged = average_states(final, initial, args.alpha)

    fer = load_fer2013_or_report(args.data or cfg.data)
    if fer is None:
        return 2
    data = fer.train
    _, val_index = stratified_split(data.labels, cfg.val_fraction, cfg.seed)
    images, labels = torch.from_numpy(data.images[val_index]), torch.from_numpy(data.labels[val_index])
    model = create_model(network_size=cfg.network_size).eval()
    scores = {}
    for name, state in (("initial", initial), ("final", final), ("averaged", averaged)):
        model.load_state_dict(state)
        scores[name] = validate(model, images, labels, cfg, torch.device("cpu"))
        print(f"{name:>8}: val acc {scores[name]['acc']:.4f}  macro-F1 {scores[name]['macro_f1']:.4f}", flush=True)

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "split.json", "history.csv", "history.json", "init_card.json"):
        if (run / name).exists():
            shutil.copy2(run / name, out_dir / name)
    best = {
        "val_acc": scores["averaged"]["acc"], "val_macro_f1": scores["averaged"]["macro_f1"],
        "epoch": len(checkpoint["history"]),
        "weights": f"the average of {args.alpha:g} x the final {kind} weights and {1 - args.alpha:g} x the starting weights",
    }  # fmt: skip
    # Atomic, as the trainer writes it: a kill never leaves a truncated best.pt that blocks a rerun.
    atomic_save(
        {"config": cfg.to_dict(), "labels": LABELS, "best": best, "history": checkpoint["history"], "model": averaged},
        out_dir / "best.pt",
    )
    print(f"wrote {out_dir / 'best.pt'}; export it with `fer-ship --run {out_dir}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
