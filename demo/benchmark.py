"""Latency of whole demo requests (upload, detection, classification, Grad-CAM, response).

    python -m demo.benchmark                # 640x480 photos with one and with four faces
    python -m demo.benchmark --requests 100

Starts the demo as its own process on 127.0.0.1 (as ``fer-demo`` runs it; ``--url`` measures
one that is already running) and times each request one at a time, two ways:

- ``http``: what the browser does — upload the photo, join the queue, read the result
  from the event stream, download every output image (annotated photo, Grad-CAM overlays);
- ``gradio_client``: the same request through ``Client.predict``, which adds its own
  threads and polling (about 75 ms on the 2-core CPU even for an echo endpoint).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import httpx
from gradio_client import Client, handle_file

from core import MIN_FACE_SIZE
from demo.app import EXAMPLES_DIR, PREDICTED

PHOTOS = {"one face": EXAMPLES_DIR / "one_face_640x480.jpg", "four faces": EXAMPLES_DIR / "four_faces.jpg"}
ENDPOINT = "analyze_photo"
# explain class, CAM method, opacity, face crop, minimum face size, test-time augmentation: the UI defaults
OPTIONS = (PREDICTED, "gradcam", 0.5, False, MIN_FACE_SIZE, False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class BrowserLikeClient:
    """Gradio's HTTP protocol as the web page speaks it: upload, queue/join, SSE, file downloads."""

    def __init__(self, url: str, api_name: str = ENDPOINT):
        self.url = url.rstrip("/") + "/"
        self.http = httpx.Client(timeout=60)
        config = self.http.get(self.url + "config").json()
        self.fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)

    def predict(self, path: Path, *options) -> list:
        with path.open("rb") as handle:
            upload = self.http.post(self.url + "gradio_api/upload", files={"files": (path.name, handle)})
        upload.raise_for_status()
        image = {"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}}
        session = uuid.uuid4().hex
        payload = {"data": [image, *options], "fn_index": self.fn_index, "session_hash": session}
        self.http.post(self.url + "gradio_api/queue/join", json=payload).raise_for_status()
        with self.http.stream("GET", self.url + f"gradio_api/queue/data?session_hash={session}") as events:
            for line in events.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    if not message.get("success", True):
                        raise RuntimeError(f"request failed: {message.get('output')}")
                    outputs = message["output"]["data"]
                    break
            else:
                raise RuntimeError("the event stream ended without a result")
        for url in _file_urls(outputs):  # the page then fetches every image it shows
            self.http.get(url).raise_for_status()
        return outputs


def _file_urls(value) -> list[str]:
    if isinstance(value, dict):
        if value.get("meta", {}).get("_type") == "gradio.FileData" and value.get("url"):
            return [value["url"]]
        return [url for item in value.values() for url in _file_urls(item)]
    if isinstance(value, list):
        return [url for item in value for url in _file_urls(item)]
    return []


def time_requests(call: Callable[[], list], warmup: int, requests: int) -> tuple[list[float], list]:
    for _ in range(warmup):
        outputs = call()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        outputs = call()
        times.append((time.perf_counter() - started) * 1000)
    return times, outputs


@contextmanager
def demo_server(timeout: float = 180.0) -> Iterator[str]:
    """Run ``python -m demo`` on a free local port; yield its URL once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "demo", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the demo exited with code {server.returncode}; run `python -m demo` to see why")
            try:
                if httpx.get(url + "config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo did not answer within {timeout:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark demo request latency.")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per photo and client")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--url", help="a running demo to measure (default: start one)")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(demo_server())
        gradio_client = Client(url, verbose=False)  # one client for all requests, as a program would
        clients = {
            "http": BrowserLikeClient(url).predict,
            "gradio_client": lambda path, *options: gradio_client.predict(
                handle_file(str(path)), *options, api_name=f"/{ENDPOINT}"
            ),
        }
        print(f"{ENDPOINT}: detection, classification and a Grad-CAM map for every face; UI defaults")
        for name, path in PHOTOS.items():
            for client_name, predict in clients.items():
                times, outputs = time_requests(partial(predict, path, *OPTIONS), args.warmup, args.requests)
                faces = len(outputs[3]["faces"])
                print(f"{name:10s} {client_name:13s} ({faces} faces): p50 {statistics.median(times):6.1f} ms   "
                      f"p95 {percentile(times, 0.95):6.1f} ms   over {args.requests} requests")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
