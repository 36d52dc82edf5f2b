"""Speed benchmark on this machine: training throughput, batched inference, single-face latency.

    fer-benchmark                 # all three, prints a table
    fer-benchmark --json out.json

Numbers depend on the CPU and on whatever else runs; run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from core.classifier import EmotionClassifier
from core.model import create_model
from core.preprocess import normalize, to_unit_float
from training.augment import AugmentConfig, augment_batch


def bench_training(batch_size: int, steps: int) -> float:
    """Images/s of full training steps (augment + forward + backward + AdamW), channels-last fp32."""
    model = create_model().to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 48, 48), dtype=torch.uint8)
    labels = torch.randint(0, 7, (batch_size,))

    def step() -> None:
        x = normalize(augment_batch(to_unit_float(images), AugmentConfig(), generator))
        loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - started)


def bench_inference(classifier: EmotionClassifier, batch_size: int, seconds: float) -> float:
    faces = np.random.default_rng(0).integers(0, 256, (batch_size, 48, 48), dtype=np.uint8)
    classifier.predict_proba(faces)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        classifier.predict_proba(faces)
        count += batch_size
    return count / (time.perf_counter() - started)


def bench_latency(classifier: EmotionClassifier, repeats: int) -> tuple[float, float]:
    face = np.random.default_rng(1).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    for _ in range(10):
        classifier.predict_proba(face)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        classifier.predict_proba(face)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark training and inference speed.")
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--infer-batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)

    results = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
               "torch": torch.__version__}  # fmt: skip
    if not args.skip_training:
        results["train_images_per_second"] = bench_training(args.train_batch, args.train_steps)
        print(f"training      {results['train_images_per_second']:8.1f} images/s  (batch {args.train_batch}, fp32 channels-last)")
    classifier = EmotionClassifier.load()
    results["inference_images_per_second"] = bench_inference(classifier, args.infer_batch, args.seconds)
    print(f"inference     {results['inference_images_per_second']:8.1f} images/s  (batch {args.infer_batch})")
    p50, p95 = bench_latency(classifier, args.repeats)
    results["single_face_ms_p50"], results["single_face_ms_p95"] = p50, p95
    print(f"single face   {p50:8.2f} ms p50, {p95:.2f} ms p95")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
