"""ONNX export of the shipped model and an ONNX Runtime inference session.

The ONNX file is derived from the safetensors weights, so it is not committed:
``fer-export`` (or the first ``EmotionClassifier.load(backend="onnx")``)
writes it next to the weights with a sidecar JSON recording its sha256 and the
sha256 of the weights it came from. A stale or altered file is rebuilt, never
trusted. onnxruntime is an optional extra: ``pip install -e ".[onnx]"``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from core.weights import WeightsError, sha256_of

OPSET = 17


def onnx_path_for(weights_path: str | os.PathLike) -> Path:
    return Path(weights_path).with_suffix(".onnx")


def _sidecar(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".onnx.json")


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(model: torch.nn.Module, onnx_path: str | os.PathLike, weights_sha256: str) -> Path:
    """Write ``model`` as ONNX with a dynamic batch axis (input "faces" (N, 1, 48, 48), output "logits")."""
    import copy

    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    exportable = copy.deepcopy(model).to(memory_format=torch.contiguous_format).eval()
    temporary = onnx_path.with_suffix(f".onnx.{os.getpid()}.tmp")  # concurrent exporters never clash
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter warns that it is legacy
        torch.onnx.export(
            exportable,
            (torch.zeros(2, 1, 48, 48),),
            str(temporary),
            input_names=["faces"],
            output_names=["logits"],
            dynamic_axes={"faces": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    meta = {"sha256": sha256_of(temporary), "weights_sha256": weights_sha256, "opset": OPSET}
    sidecar_tmp = _sidecar(onnx_path).with_name(f"{onnx_path.name}.json.{os.getpid()}.tmp")
    sidecar_tmp.write_text(json.dumps(meta, indent=1))
    os.replace(temporary, onnx_path)
    os.replace(sidecar_tmp, _sidecar(onnx_path))
    return onnx_path


def is_current(onnx_path: Path, weights_sha256: str) -> bool:
    """True when the ONNX file exists, is unaltered and was exported from these weights."""
    sidecar = _sidecar(onnx_path)
    if not onnx_path.exists() or not sidecar.exists():
        return False
    try:
        meta = json.loads(sidecar.read_text())
    except json.JSONDecodeError:
        return False
    return meta.get("weights_sha256") == weights_sha256 and meta.get("sha256") == sha256_of(onnx_path)


class OnnxRunner:
    """Logits from an ONNX Runtime CPU session; same input as the PyTorch model."""

    def __init__(self, onnx_path: str | os.PathLike, threads: int | None = None) -> None:
        if not onnx_available():
            raise WeightsError('backend="onnx" needs onnxruntime: pip install -e ".[onnx]"')
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's threads busy-wait after each run by default; in a server that also runs
        # face detection and Grad-CAM on the same cores, that spinning slowed them down ~1.5x.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.path = Path(onnx_path)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self.session.run(["logits"], {"faces": array})[0])
