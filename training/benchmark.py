"""Speed benchmark on this machine: training throughput and inference per backend.

    fer-benchmark                          # training + every available inference backend
    fer-benchmark --skip-training --backends torch onnx
    fer-benchmark --json bench.json
    fer-benchmark --backends --network-sizes 48 64 96   # the training cost of upsampling inside the model

Inference backends (each measured in its own process, so peak memory is its own):
  torch        PyTorch eager, channels-last, inference mode
  torch-jit    PyTorch traced + frozen + optimize_for_inference (conv-BN folding, oneDNN fusion)
  onnx         ONNX Runtime fp32 (the file `fer-export` writes)
  onnx-int8    ONNX Runtime with static int8 quantisation, calibrated on FER-2013 training
               faces (needs FER2013_PATH); reported, shipped only if accuracy holds
Numbers depend on the CPU and on whatever else runs; use an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.classifier import EmotionClassifier
from core.model import create_model
from core.preprocess import INPUT_SIZE, normalize, preprocess, to_unit_float
from core.weights import DEFAULT_WEIGHTS
from training.augment import AugmentConfig, augment_batch
from training.data import load_fer2013, load_fer2013_or_report

BACKENDS = ("torch", "torch-jit", "onnx", "onnx-int8")


def bench_training(batch_size: int, steps: int, network_size: int = INPUT_SIZE) -> float:
    """Images/s of full training steps (augment + forward + backward + AdamW), channels-last fp32."""
    model = create_model(network_size=network_size).to(memory_format=torch.channels_last).train()
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


def make_forward(backend: str, data_path: str | None):
    """(forward(x) -> logits, model file size in bytes) for one backend."""
    classifier = EmotionClassifier.load(backend="onnx" if backend == "onnx" else "torch")
    if backend == "torch":
        model = classifier.model

        def forward(x):
            with torch.inference_mode():
                return model(x.contiguous(memory_format=torch.channels_last))

        return forward, DEFAULT_WEIGHTS.stat().st_size
    if backend == "torch-jit":
        with torch.inference_mode():
            example = torch.zeros(64, 1, 48, 48).contiguous(memory_format=torch.channels_last)
            traced = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(classifier.model, example)))

        def forward(x):
            with torch.inference_mode():
                return traced(x.contiguous(memory_format=torch.channels_last))

        return forward, DEFAULT_WEIGHTS.stat().st_size
    if backend == "onnx":
        return classifier.runner, classifier.runner.path.stat().st_size
    if backend == "onnx-int8":
        from core.onnx_backend import OnnxRunner

        path = quantize_int8(data_path)
        return OnnxRunner(path), path.stat().st_size
    raise ValueError(backend)


def quantize_int8(data_path: str | None) -> Path:
    """Static QDQ int8 quantisation calibrated on 512 FER-2013 training faces."""
    if not data_path:
        raise SystemExit("onnx-int8 needs FER2013_PATH (calibration faces)")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from core.onnx_backend import onnx_path_for

    source = onnx_path_for(DEFAULT_WEIGHTS)
    if not source.exists():
        EmotionClassifier.load(backend="onnx")
    target = Path(os.environ.get("FER_CACHE_DIR", ".cache")) / "onnx" / "efficientnet_b2_fer2013.int8.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    train = load_fer2013(data_path).train
    faces = train.images[np.random.default_rng(0).choice(len(train), 512, replace=False)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(preprocess(faces[i : i + 64]).numpy() for i in range(0, len(faces), 64))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"faces": batch}

    quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)  # fmt: skip
    return target


def peak_memory_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the process image, whereas
    ru_maxrss survives exec, so a child started from a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_backend(backend: str, seconds: float, repeats: int, data_path: str | None) -> dict:
    torch.set_num_threads(os.cpu_count() or 1)
    forward, size = make_forward(backend, data_path)
    rng = np.random.default_rng(0)
    single = preprocess(rng.integers(0, 256, (1, 48, 48), dtype=np.uint8))
    batch = preprocess(rng.integers(0, 256, (64, 48, 48), dtype=np.uint8))
    for _ in range(10):
        forward(single)
        forward(batch)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        forward(single)
        times.append((time.perf_counter() - started) * 1000)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        forward(batch)
        count += 64
    result = {
        "backend": backend,
        "single_ms_p50": float(np.percentile(times, 50)),
        "single_ms_p95": float(np.percentile(times, 95)),
        "batch64_images_per_second": count / (time.perf_counter() - started),
        "peak_rss_mb": peak_memory_mb(),
        "model_mb": size / 1e6,
    }
    if data_path:
        test = load_fer2013(data_path).test
        x = preprocess(test.images)
        predicted = torch.cat([forward(x[i : i + 256]).float() for i in range(0, len(x), 256)]).argmax(1).numpy()
        result["test_accuracy"] = float((predicted == test.labels).mean())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark training and inference speed.")
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--network-sizes", type=int, nargs="+", default=[INPUT_SIZE],
                        help="training throughput at these network sizes (faces upsampled inside the model)")  # fmt: skip
    parser.add_argument("--backends", nargs="*", default=None, help=f"subset of {BACKENDS}")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the batched measurement")
    parser.add_argument("--repeats", type=int, default=200, help="single-face calls for the latency percentiles")
    parser.add_argument("--data", default=os.environ.get("FER2013_PATH"), help="adds test accuracy per backend")
    parser.add_argument("--one-backend", help=argparse.SUPPRESS)  # internal: measure in this process
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    if args.one_backend:
        print(json.dumps(measure_backend(args.one_backend, args.seconds, args.repeats, args.data)))
        return 0
    # Check the data set (and fill its cache) before minutes of measurements, not in each child.
    if args.data and load_fer2013_or_report(args.data) is None:
        return 2
    torch.set_num_threads(os.cpu_count() or 1)
    results: dict = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
    }
    if not args.skip_training:
        for size in args.network_sizes:
            speed = bench_training(args.train_batch, args.train_steps, size)
            key = "train_images_per_second" + ("" if size == INPUT_SIZE else f"_{size}px")
            results[key] = speed
            print(f"training at {size} px: {speed:.1f} images/s (batch {args.train_batch}, fp32, channels-last)")
    backends = args.backends if args.backends is not None else [b for b in BACKENDS if b != "onnx-int8" or args.data]
    results["inference"] = []
    print(
        f"{'backend':10s} {'p50 ms':>8s} {'p95 ms':>8s} {'img/s@64':>9s} {'peak MB':>8s} {'file MB':>8s} {'test acc':>9s}"
    )
    for backend in backends:
        command = [sys.executable, "-m", "training.benchmark", "--one-backend", backend, "--seconds", str(args.seconds),
                   "--repeats", str(args.repeats), "--data", args.data or ""]  # fmt: skip
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            print(f"{backend:10s} failed: {finished.stderr.strip().splitlines()[-1] if finished.stderr else '?'}")
            continue
        row = json.loads(finished.stdout.strip().splitlines()[-1])
        results["inference"].append(row)
        accuracy = f"{row['test_accuracy']:.2%}" if "test_accuracy" in row else "-"
        print(f"{backend:10s} {row['single_ms_p50']:8.2f} {row['single_ms_p95']:8.2f} {row['batch64_images_per_second']:9.0f} "
              f"{row['peak_rss_mb']:8.0f} {row['model_mb']:8.1f} {accuracy:>9s}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
