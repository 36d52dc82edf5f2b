"""Latency of whole demo requests (upload, detection, classification, Grad-CAM, response).

    python -m demo.benchmark                # 640x480 photos with one and with four faces
    python -m demo.benchmark --requests 100

Launches the demo in-process on 127.0.0.1 and calls the UI endpoint with
gradio_client, one request at a time, so the figures are per-request latency.
"""

from __future__ import annotations

import argparse
import statistics
import time

from gradio_client import Client, handle_file

from demo.app import EXAMPLES_DIR, PREDICTED, demo

PHOTOS = {"one face": EXAMPLES_DIR / "one_face_640x480.jpg", "four faces": EXAMPLES_DIR / "four_faces.jpg"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark demo request latency.")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per photo")
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True)
    try:
        client = Client(url, verbose=False)
        for name, path in PHOTOS.items():
            options = (PREDICTED, "gradcam", 0.5, False, 30, False)
            for _ in range(args.warmup):
                client.predict(handle_file(str(path)), *options, api_name="/analyze_photo")
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                outputs = client.predict(handle_file(str(path)), *options, api_name="/analyze_photo")
                times.append((time.perf_counter() - started) * 1000)
            faces = len(outputs[3]["faces"])
            print(f"{name:10s} ({faces} detected, Grad-CAM for each): p50 {statistics.median(times):6.1f} ms   "
                  f"p95 {percentile(times, 0.95):6.1f} ms   over {args.requests} requests")  # fmt: skip
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
