"""Train/serve skew: the training data path and the serving path give identical tensors."""

import numpy as np
import pytest
import torch
from PIL import Image

from core.faces import analyze
from core.images import load_image
from core.labels import LABELS
from core.preprocess import normalize, preprocess, to_face_array, to_unit_float
from training.data import load_fer2013


def training_tensor(images: np.ndarray) -> torch.Tensor:
    """What train.py feeds the model for un-augmented images (and what validation uses)."""
    return normalize(to_unit_float(torch.from_numpy(images)))


def test_training_and_serving_tensors_are_identical(fer_folder):
    data = load_fer2013(fer_folder, cache=False)
    files = [next((fer_folder / "test" / label).glob("*.png")) for label in ("fear", "sad", "happy")]
    names = [f.name for f in files]
    rows = [int(np.flatnonzero(data.names == name)[0]) for name in names]
    from_training = training_tensor(data.images[rows])
    # Serving: the demo opens the upload with load_image, then classifies the face crop.
    from_serving = preprocess([np.asarray(load_image(f).convert("L")) for f in files])
    torch.testing.assert_close(from_training, from_serving, rtol=0, atol=0)
    # The batch API on uint8 arrays (evaluation) is the same path too.
    torch.testing.assert_close(preprocess(data.images[rows]), from_training, rtol=0, atol=0)


def test_whole_image_analysis_classifies_the_same_tensor(fer_folder, monkeypatch):
    seen = []

    class Recorder:
        labels = LABELS

        def predict_proba(self, faces, tta="none"):
            seen.append(preprocess(faces))
            return np.full((len(faces), 7), 1 / 7, dtype=np.float32)

    file = next((fer_folder / "test" / "sad").glob("*.png"))
    analyze(file, Recorder(), whole_image=True)
    data = load_fer2013(fer_folder, cache=False)
    row = int(np.flatnonzero(data.names == file.name)[0])
    torch.testing.assert_close(seen[0], training_tensor(data.images[[row]]), rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "I;16", "numpy_float", "numpy_rgb", "numpy_gray1"])
def test_any_mode_and_size_gives_a_48px_uint8_face(mode):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (97, 61), dtype=np.uint8)
    if mode == "I;16":
        face = Image.fromarray(gray.astype(np.uint16) * 257)
    elif mode == "numpy_float":
        face = gray / 255.0
    elif mode == "numpy_rgb":
        face = np.repeat(gray[:, :, None], 3, axis=2)
    elif mode == "numpy_gray1":
        face = gray[:, :, None]
    else:
        face = Image.fromarray(gray).convert(mode)
    array = to_face_array(face)
    assert array.shape == (48, 48) and array.dtype == np.uint8
    reference = to_face_array(Image.fromarray(gray))
    assert np.abs(array.astype(int) - reference.astype(int)).max() <= 1


def test_preprocess_output_shape_and_normalisation():
    faces = np.stack([np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8)])
    x = preprocess(faces)
    assert x.shape == (2, 1, 48, 48) and x.dtype == torch.float32
    assert x[0].max().item() == pytest.approx(-2.0) and x[1].min().item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="batch"):
        preprocess(np.zeros((48, 48), np.uint8))
