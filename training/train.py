"""Train EfficientNet-B2 on FER-2013 with the paper's two-stage recipe.

    fer-train --data ../shared/data/fer2013.zip            # CPU or CUDA (--device auto)
    fer-train --data ... --resume                           # continue after an interruption
    fer-train --data ... --init-weights core/weights/efficientnet_b2_fer2013.safetensors --lr 5e-4
                                                            # a new run that starts from trained weights

Reads top to bottom: config -> data and split -> model, optimizer, EMA ->
epoch loop (augment, step, validate, checkpoint) -> history. The run folder
holds config.json, split.json, history.{json,csv}, last.pt (every epoch,
written atomically) and best.pt; `fer-ship` turns best.pt into shipped weights.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core.labels import LABELS, NUM_CLASSES
from core.model import count_parameters, create_model, pick_device
from core.preprocess import normalize, to_unit_float
from core.weights import WeightsError, load_state_dict
from training.augment import AugmentConfig, augment_batch, mix_batch
from training.config import TrainConfig, parse_config
from training.data import load_fer2013_or_report, stratified_split
from training.distill import teacher_probabilities
from training.metrics import accuracy, macro_f1

HISTORY_FIELDS = [
    "epoch", "stage", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_macro_f1",
    "val_acc_raw", "val_macro_f1_raw", "val_acc_swa", "val_macro_f1_swa", "seconds", "images_per_second",
]  # fmt: skip


def class_weights(labels: np.ndarray, clip: tuple[float, float]) -> torch.Tensor:
    """Inverse-frequency weights (mean 1 over classes), clipped so disgust cannot dominate."""
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    weights = counts.sum() / (NUM_CLASSES * np.maximum(counts, 1))
    return torch.tensor(np.clip(weights, *clip), dtype=torch.float32)


def learning_rate(step: int, total_steps: int, warmup_steps: int, cfg: TrainConfig, epoch: int = 0) -> float:
    """Stage 1: linear ramp to cfg.lr; stage 2: cosine decay to cfg.min_lr (or cfg.swa_lr, constant,
    once SWA has started)."""
    if swa_active(cfg, epoch) and cfg.swa_lr > 0:
        return cfg.swa_lr
    if step < warmup_steps:
        return cfg.lr * (0.01 + 0.99 * step / max(1, warmup_steps))
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def swa_active(cfg: TrainConfig, epoch: int) -> bool:
    """Whether the (0-based) epoch is averaged into the SWA weights."""
    return cfg.swa_start > 0 and epoch + 1 >= cfg.swa_start


def stage_augment(cfg: TrainConfig, epoch: int) -> AugmentConfig:
    """Stage 1 uses half-strength geometry, no erasing and no mixing; stage 2 the full augmentation."""
    if epoch >= cfg.warmup_epochs:
        return cfg.augment
    return dataclasses.replace(
        cfg.augment, rotate_deg=cfg.augment.rotate_deg / 2, shift=cfg.augment.shift / 2, erase=0.0, mix_prob=0.0
    )


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and normalisation parameters (1-D tensors)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


OPTIMIZERS = ("adamw", "sgd")


def create_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (the paper's, decoupled weight decay) or SGD with Nesterov momentum 0.9 (L2 weight decay)."""
    groups = param_groups(model, cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose one of {OPTIMIZERS}")


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, images: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Logits for uint8 images (N, 48, 48) already on ``device``; no augmentation."""
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        x = normalize(to_unit_float(images[start : start + batch_size]))
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            outputs.append(model(x).float())
    return torch.cat(outputs)


def validate(model, images, labels, cfg, device) -> dict[str, float]:
    logits = predict_logits(model, images, cfg.eval_batch_size, device)
    loss = F.cross_entropy(logits, labels).item()
    y_true, y_pred = labels.cpu().numpy(), logits.argmax(1).cpu().numpy()
    return {"loss": loss, "acc": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred, NUM_CLASSES)}


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * model, over parameters and float buffers."""
    pairs = [(e, m) for e, m in zip(ema.state_dict().values(), model.state_dict().values(), strict=True)]
    floats = [(e, m) for e, m in pairs if e.dtype.is_floating_point]
    ema_tensors = [e for e, _ in floats]
    torch._foreach_mul_(ema_tensors, decay)
    torch._foreach_add_(ema_tensors, [m for _, m in floats], alpha=1 - decay)
    for e, m in pairs:
        if not e.dtype.is_floating_point:
            e.copy_(m)


# Files of a run folder written through a temporary file and a rename.
ATOMIC_FILES = ("best.pt", "last.pt", "history.json", "history.csv", "teacher.pt")


def temporary_path(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".tmp")


def atomic_save(obj: dict, path: Path) -> None:
    """Write to a temporary file, fsync, then rename: a kill leaves the old file intact."""
    temporary = temporary_path(path)
    with open(temporary, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_history(history: list[dict], out_dir: Path) -> None:
    """history.json and history.csv, each replaced atomically: a kill never leaves a truncated file."""
    temporary = temporary_path(out_dir / "history.json")
    temporary.write_text(json.dumps(history, indent=1))
    os.replace(temporary, out_dir / "history.json")
    temporary = temporary_path(out_dir / "history.csv")
    with open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        writer.writerows(history)
    os.replace(temporary, out_dir / "history.csv")


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_config(argv)
    out_dir = Path(cfg.out_dir)
    last_path = out_dir / "last.pt"
    checkpoint = None
    if args.resume:
        if not last_path.exists():
            print(f"error: --resume but no checkpoint at {last_path}", file=sys.stderr)
            return 2
        # Our own checkpoint, still loaded without unpickling arbitrary objects.
        checkpoint = torch.load(last_path, map_location="cpu", weights_only=True)
        # A kill during a save leaves our own half-written temporary file behind: drop it.
        for name in ATOMIC_FILES:
            temporary_path(out_dir / name).unlink(missing_ok=True)
        # The run keeps its own config; only the device, an explicit --epochs and the SWA tail may
        # change (so a finished cosine run can be extended by an SWA phase).
        overrides = {"device": cfg.device} | {
            name: getattr(args, name) for name in ("epochs", "swa_start", "swa_lr") if getattr(args, name) is not None
        }
        cfg = TrainConfig.from_dict({**checkpoint["config"], **overrides})
    elif last_path.exists():
        print(f"error: {last_path} exists; pass --resume to continue it or choose another --out-dir", file=sys.stderr)
        return 2
    if cfg.optimizer not in OPTIMIZERS:
        print(f"error: --optimizer must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}", file=sys.stderr)
        return 2
    if cfg.teacher_weights and not 0.0 <= cfg.distill_weight <= 1.0:
        print(f"error: --distill-weight must be in [0, 1], got {cfg.distill_weight}", file=sys.stderr)
        return 2
    if not cfg.data:  # checked after --resume, which carries the run's own data path
        print("error: pass --data PATH (FER-2013 folder, .zip or fer2013.csv) or set FER2013_PATH", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))

    device = pick_device(cfg.device)
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    torch.manual_seed(cfg.seed)

    # Data: the whole set lives on the device as uint8; batches are sliced from it.
    fer = load_fer2013_or_report(cfg.data)
    if fer is None:
        return 2
    data = fer.train
    train_index, val_index = stratified_split(data.labels, cfg.val_fraction, cfg.seed)
    (out_dir / "split.json").write_text(
        json.dumps({"seed": cfg.seed, "val_fraction": cfg.val_fraction,
                    "train": data.names[train_index].tolist(), "val": data.names[val_index].tolist()})
    )  # fmt: skip
    train_images = torch.from_numpy(data.images[train_index]).to(device)
    train_labels = torch.from_numpy(data.labels[train_index]).to(device)
    val_images = torch.from_numpy(data.images[val_index]).to(device)
    val_labels = torch.from_numpy(data.labels[val_index]).to(device)

    teacher = None  # soft targets (N_train, 7) on the device, indexed like train_images
    if cfg.teacher_weights:
        teacher_path = out_dir / "teacher.pt"
        if checkpoint is not None and teacher_path.exists():
            # A resume reuses the run's own targets, even if the teacher file has been replaced since.
            teacher = torch.load(teacher_path, map_location="cpu", weights_only=True)["probabilities"].to(device)
        else:
            if checkpoint is not None:
                print(f"warning: {teacher_path} is missing; asking {cfg.teacher_weights} again, which gives the "
                      "run's targets only if that file has not changed since the run began", flush=True)  # fmt: skip
            print(f"teacher: {cfg.teacher_weights} with {cfg.teacher_tta} TTA on {len(train_index)} faces", flush=True)
            try:
                teacher, teacher_sha = teacher_probabilities(cfg.teacher_weights, train_images, cfg.teacher_tta, device)
            except (WeightsError, ValueError) as error:
                print(f"error: --teacher-weights: {error}", file=sys.stderr)
                return 2
            agreement = (teacher.argmax(1) == train_labels).float().mean().item()
            print(f"teacher agrees with {agreement:.1%} of the training labels", flush=True)
            atomic_save({"probabilities": teacher.cpu(), "sha256": teacher_sha, "tta": cfg.teacher_tta}, teacher_path)

    model = create_model(drop_rate=cfg.drop_rate, drop_path_rate=cfg.drop_path_rate, network_size=cfg.network_size)
    model = model.to(device).to(memory_format=torch.channels_last)
    optimizer = create_optimizer(model, cfg)
    ema = copy.deepcopy(model).eval() if cfg.ema_decay > 0 else None
    weights = class_weights(data.labels[train_index], cfg.class_weight_clip).to(device)
    generator = torch.Generator().manual_seed(cfg.seed)

    steps_per_epoch = math.ceil(len(train_index) / cfg.batch_size)
    total_steps, warmup_steps = cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch
    start_epoch, history, best = 0, [], {"val_acc": -1.0}
    swa, swa_count = None, 0  # SWA model (made at its first epoch) and how many epochs it averages
    if cfg.init_weights and checkpoint is None:
        # Checksum-verified safetensors, so a lost run can continue from the shipped model.
        try:
            state, parent_card = load_state_dict(cfg.init_weights)
        except WeightsError as error:
            print(f"error: --init-weights: {error}", file=sys.stderr)
            return 2
        # The parent's card travels with the run, so fer-ship can report the whole training cost.
        (out_dir / "init_card.json").write_text(json.dumps(parent_card, indent=1))
        model.load_state_dict(state)
        if ema is not None:
            ema.load_state_dict(state)
        print(f"initialised from {cfg.init_weights}", flush=True)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        if ema is not None and checkpoint.get("ema") is not None:
            ema.load_state_dict(checkpoint["ema"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        generator.set_state(checkpoint["generator"])
        torch.set_rng_state(checkpoint["torch_rng"])
        start_epoch, history, best = checkpoint["epoch"] + 1, checkpoint["history"], checkpoint["best"]
        if checkpoint.get("swa") is not None:
            swa, swa_count = copy.deepcopy(model).eval(), checkpoint["swa_count"]
            swa.load_state_dict(checkpoint["swa"])
        print(f"resumed from {last_path} after epoch {start_epoch}", flush=True)
    print(
        f"EfficientNet-B2 {count_parameters(model) / 1e6:.2f}M params | {device} | "
        f"train {len(train_index)} val {len(val_index)} | {cfg.epochs} epochs x {steps_per_epoch} steps",
        flush=True,
    )

    interactive = sys.stderr.isatty()
    last_epoch = cfg.epochs if not args.stop_after else min(cfg.epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, last_epoch):
        stage = "warmup" if epoch < cfg.warmup_epochs else "finetune"
        augment_cfg = stage_augment(cfg, epoch)
        model.train()
        started = time.time()
        order = torch.randperm(len(train_index), generator=generator).to(device)
        loss_sum, correct, seen = 0.0, 0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs} {stage}",
                   mininterval=0.5 if interactive else 60, dynamic_ncols=True)  # fmt: skip
        for i in bar:
            step = epoch * steps_per_epoch + i
            lr = learning_rate(step, total_steps, warmup_steps, cfg, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = augment_batch(to_unit_float(train_images[batch]), augment_cfg, generator)
            x, partner, lam = mix_batch(x, augment_cfg, generator)
            x = normalize(x).contiguous(memory_format=torch.channels_last)
            y = train_labels[batch]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logits = model(x).float()
            loss = F.cross_entropy(logits, y, weight=weights, label_smoothing=cfg.label_smoothing)
            if lam < 1.0:
                partner_loss = F.cross_entropy(logits, y[partner], weight=weights, label_smoothing=cfg.label_smoothing)
                loss = lam * loss + (1.0 - lam) * partner_loss
                y = y if lam >= 0.5 else y[partner]  # training accuracy counts the dominant label
            if teacher is not None:
                target = teacher[batch]
                target = target if lam >= 1.0 else lam * target + (1.0 - lam) * target[partner]
                loss = (1.0 - cfg.distill_weight) * loss + cfg.distill_weight * F.cross_entropy(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if ema is not None:
                # Warm-up of the EMA decay so early epochs are not dominated by the random init.
                decay = min(cfg.ema_decay, (1 + step) / (10 + step))
                update_ema(ema, model, decay)
            loss_sum += loss.item() * len(batch)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(batch)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}", lr=f"{lr:.2e}", refresh=False)
        bar.close()
        train_seconds = time.time() - started

        raw = validate(model, val_images, val_labels, cfg, device)
        smooth = validate(ema, val_images, val_labels, cfg, device) if ema is not None else raw
        candidates = {"raw": (raw, model)}
        if ema is not None:
            candidates["ema"] = (smooth, ema)
        averaged = None
        if swa_active(cfg, epoch):
            swa = swa if swa is not None else copy.deepcopy(model).eval()
            # A running mean is an EMA whose decay is n / (n + 1): the first update copies the model.
            update_ema(swa, model, swa_count / (swa_count + 1))
            swa_count += 1
            averaged = validate(swa, val_images, val_labels, cfg, device)
            candidates["swa"] = (averaged, swa)
        # The most accurate of the raw, EMA and SWA weights (ties go to the smoother weights).
        kind = max(reversed(list(candidates)), key=lambda name: candidates[name][0]["acc"])
        chosen, chosen_model = candidates[kind]
        row = {
            "epoch": epoch + 1, "stage": stage, "lr": lr,
            "train_loss": loss_sum / seen, "train_acc": correct / seen,
            "val_loss": chosen["loss"], "val_acc": chosen["acc"], "val_macro_f1": chosen["macro_f1"],
            "val_acc_raw": raw["acc"], "val_macro_f1_raw": raw["macro_f1"],
            "val_acc_swa": averaged["acc"] if averaged else None,
            "val_macro_f1_swa": averaged["macro_f1"] if averaged else None,
            "seconds": time.time() - started, "images_per_second": seen / train_seconds,
        }  # fmt: skip
        history.append(row)
        print(
            f"epoch {epoch + 1}/{cfg.epochs} {stage} | train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
            f"val acc {raw['acc']:.4f} (ema {smooth['acc']:.4f}"
            + (f", swa {averaged['acc']:.4f}" if averaged else "")
            + f") f1 {chosen['macro_f1']:.4f} | "
            f"{row['seconds']:.0f}s {row['images_per_second']:.0f} img/s",
            flush=True,
        )
        state = {
            "config": cfg.to_dict(), "labels": LABELS, "epoch": epoch, "history": history,
            "model": model.state_dict(), "ema": ema.state_dict() if ema is not None else None,
            "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(), "best": best,
            "swa": swa.state_dict() if swa is not None else None, "swa_count": swa_count,
        }  # fmt: skip
        if chosen["acc"] > best["val_acc"]:
            best = {"val_acc": chosen["acc"], "val_macro_f1": chosen["macro_f1"], "epoch": epoch + 1,
                    "weights": kind if kind != "swa" else
                    f"the SWA average of the weights at the end of epochs {epoch + 2 - swa_count}-{epoch + 1}"}  # fmt: skip
            state["best"] = best
            export_state = chosen_model.state_dict()
            atomic_save({"config": cfg.to_dict(), "labels": LABELS, "best": best, "history": history,
                         "model": export_state}, out_dir / "best.pt")  # fmt: skip
        write_history(history, out_dir)  # first, so a visible last.pt always has its history beside it
        atomic_save(state, last_path)
    if last_epoch < cfg.epochs:
        print(f"stopped after epoch {last_epoch}/{cfg.epochs}; continue with --resume", flush=True)
        return 0
    print(f"done: best val acc {best['val_acc']:.4f} at epoch {best.get('epoch')} ({best.get('weights')})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
