"""The training recipe: every knob in one place, with the paper's recipe as defaults.

Override any field on the command line: ``fer-train --epochs 60 --lr 1e-3``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass, field

from training.augment import AugmentConfig


@dataclass
class TrainConfig:
    # data
    data: str = os.environ.get("FER2013_PATH", "")  # folder, .zip or fer2013.csv
    val_fraction: float = 0.125  # the paper's stratified 87.5 / 12.5 split of Training
    seed: int = 42  # split, init, shuffling and augmentation
    # model
    drop_rate: float = 0.3  # dropout before the classifier
    drop_path_rate: float = 0.1  # stochastic depth
    network_size: int = 48  # side the network works at; faces stay 48 px and are upsampled inside the model
    init_weights: str = ""  # start from these safetensors weights (e.g. the shipped model): a warm restart
    # schedule: stage 1 "warm-up" then stage 2 "fine-tune"
    epochs: int = 30  # total epochs, both stages
    warmup_epochs: int = 2  # stage 1: LR ramps up linearly, lighter augmentation
    batch_size: int = 128
    optimizer: str = "adamw"  # adamw (the paper's) | sgd (Nesterov momentum 0.9, L2 weight decay)
    lr: float = 2e-3  # peak learning rate
    min_lr: float = 1e-5  # end of the cosine decay in stage 2
    weight_decay: float = 0.05  # decoupled with AdamW, L2 with SGD; not applied to norms and biases
    label_smoothing: float = 0.06
    class_weight_clip: tuple[float, float] = (0.5, 2.0)  # inverse-frequency weights, clipped
    grad_clip: float = 5.0  # max global grad norm; 0 disables
    ema_decay: float = 0.999  # EMA of weights (0 disables); validated and exported if better
    swa_start: int = 0  # SWA: from this epoch on, also average the weights at each epoch's end (0 disables)
    swa_lr: float = 0.0  # constant learning rate while averaging (0 keeps the cosine schedule)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # self-distillation (off unless teacher_weights is set): soft targets from a trained model's TTA
    teacher_weights: str = ""  # safetensors weights whose TTA probabilities join the labels (e.g. the shipped model)
    teacher_tta: str = "tencrop"  # none | flip | tencrop: the views the teacher averages
    distill_weight: float = 0.5  # loss = (1 - w) x the hard-label loss + w x cross-entropy with the teacher
    # runtime
    device: str = "auto"  # auto | cpu | cuda
    out_dir: str = "runs/b2"  # checkpoints, history, split, resolved config
    eval_batch_size: int = 512
    threads: int = 0  # CPU threads; 0 = all cores

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        values = dict(values)
        augment = AugmentConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in values.pop("augment", {}).items()}
        )
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(augment=augment, **fixed)


def _add_fields(parser: argparse.ArgumentParser, instance, prefix: str = "") -> None:
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        name = f"--{prefix}{f.name.replace('_', '-')}"
        if dataclasses.is_dataclass(value):
            _add_fields(parser, value, prefix=f"{f.name}.")
        elif isinstance(value, tuple):
            parser.add_argument(name, type=float, nargs=2, default=None, metavar=("LOW", "HIGH"))
        elif isinstance(value, bool):
            parser.add_argument(name, type=lambda s: s.lower() in ("1", "true", "yes"), default=None)
        else:
            parser.add_argument(name, type=type(value), default=None)


def parse_config(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """Build a TrainConfig from defaults, an optional --config JSON and command-line flags."""
    parser = argparse.ArgumentParser(description="Train EfficientNet-B2 on FER-2013.")
    parser.add_argument("--config", help="JSON file with TrainConfig fields")
    parser.add_argument("--resume", action="store_true", help="continue from OUT_DIR/last.pt")
    parser.add_argument(
        "--stop-after", type=int, default=0, help="stop after N epochs in this invocation (resume later)"
    )
    _add_fields(parser, TrainConfig())
    args = parser.parse_args(argv)
    config = TrainConfig()
    if args.config:
        with open(args.config) as handle:
            config = TrainConfig.from_dict({**config.to_dict(), **json.load(handle)})
    for key, value in vars(args).items():
        if value is None or key in ("config", "resume", "stop_after"):
            continue
        if "." in key:
            group, name = key.split(".", 1)
            setattr(getattr(config, group), name, tuple(value) if isinstance(value, list) else value)
        else:
            setattr(config, key, tuple(value) if isinstance(value, list) else value)
    return config, args
