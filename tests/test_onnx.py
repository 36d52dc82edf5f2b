"""ONNX export and the ONNX Runtime backend agree with PyTorch."""

import os
import shutil

import numpy as np
import pytest

from core import EmotionClassifier
from core.onnx_backend import is_current, onnx_path_for
from core.weights import DEFAULT_WEIGHTS, card_path_for
from training import export_onnx

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    path = folder / "model.safetensors"
    shutil.copy(DEFAULT_WEIGHTS, path)
    shutil.copy(card_path_for(DEFAULT_WEIGHTS), card_path_for(path))
    return path


def test_onnx_backend_matches_torch(weights):
    torch_clf = EmotionClassifier.load(weights)
    onnx_clf = EmotionClassifier.load(weights, backend="onnx")
    assert onnx_clf.backend == "onnx" and onnx_clf.labels == torch_clf.labels
    assert is_current(onnx_path_for(weights), torch_clf.card["sha256"])
    faces = np.random.default_rng(0).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    for tta in ("none", "tencrop"):
        a, b = torch_clf.predict_proba(faces, tta=tta), onnx_clf.predict_proba(faces, tta=tta)
        assert b.shape == (64, 7) and np.abs(a - b).max() <= 1e-4
    assert onnx_clf.predict_proba(faces[:1]).shape == (1, 7)  # dynamic batch axis


def test_altered_onnx_file_is_rebuilt(weights):
    EmotionClassifier.load(weights, backend="onnx")
    onnx_file = onnx_path_for(weights)
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    sha = EmotionClassifier.load(weights).card["sha256"]
    assert not is_current(onnx_file, sha)
    clf = EmotionClassifier.load(weights, backend="onnx")
    assert is_current(onnx_file, sha) and clf.predict_proba(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)


def test_fer_export_command(weights, tmp_path, capsys):
    out = tmp_path / "exported.onnx"
    assert export_onnx.main(["--weights", str(weights), "--out", str(out), "--data", ""]) == 0
    printed = capsys.readouterr().out
    assert out.exists() and "max_abs_diff" in printed


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("FER2013_PATH"), reason="set FER2013_PATH for the full test-set comparison")
def test_onnx_matches_torch_on_the_full_test_set(weights, tmp_path, capsys):
    assert export_onnx.main(["--weights", str(weights), "--out", str(tmp_path / "m.onnx")]) == 0
    printed = capsys.readouterr().out
    values = dict(item.split("=") for item in printed.split("\n")[1].split())
    assert int(values["images"]) == 7178
    assert float(values["max_abs_diff"]) <= 1e-4
    assert float(values["torch_accuracy"]) == float(values["onnx_accuracy"])
