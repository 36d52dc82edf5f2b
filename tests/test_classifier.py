import shutil

import numpy as np
import pytest
from PIL import Image

from core import LABELS, EmotionClassifier, WeightsError
from core.weights import DEFAULT_WEIGHTS, card_path_for


@pytest.fixture(scope="module")
def classifier():
    return EmotionClassifier.load()


def test_labels_and_card(classifier):
    assert classifier.labels == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"] == LABELS
    card = classifier.card
    assert card["input_size"] == [1, 48, 48]
    assert card["normalization"]["mean"] == 0.5 and card["normalization"]["std"] == 0.25
    assert card["parameters"] == sum(p.numel() for p in classifier.model.parameters())


@pytest.mark.parametrize("tta", ["none", "flip", "tencrop", True, False])
def test_predict_proba_shapes_and_rows_sum_to_one(classifier, tta):
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    probabilities = classifier.predict_proba(faces, tta=tta)
    assert probabilities.shape == (5, 7) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert (probabilities >= 0).all()


def test_list_of_images_of_any_size_and_mode(classifier):
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    faces = [Image.fromarray(gray), Image.fromarray(gray).convert("RGB").resize((200, 200)), gray]
    probabilities = classifier.predict_proba(faces)
    assert probabilities.shape == (3, 7)
    # The same pixels in another container give the same answer.
    np.testing.assert_allclose(probabilities[0], probabilities[2], atol=1e-6)
    assert classifier.predict_proba([]).shape == (0, 7)
    assert classifier.predict(faces)[0] in LABELS


def test_batching_does_not_change_results(classifier):
    faces = np.random.default_rng(2).integers(0, 256, (9, 48, 48), dtype=np.uint8)
    whole = classifier.predict_proba(faces)
    classifier.batch_size, saved = 4, classifier.batch_size
    try:
        np.testing.assert_allclose(classifier.predict_proba(faces), whole, atol=1e-5)
    finally:
        classifier.batch_size = saved


def test_unknown_tta_mode(classifier):
    with pytest.raises(ValueError, match="tencrop"):
        classifier.predict_proba(np.zeros((1, 48, 48), np.uint8), tta="twentycrop")


def test_tampered_weights_are_refused(tmp_path):
    weights = tmp_path / "model.safetensors"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    shutil.copy(card_path_for(DEFAULT_WEIGHTS), card_path_for(weights))
    assert EmotionClassifier.load(weights).labels == LABELS
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # flip one byte of a tensor
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        EmotionClassifier.load(weights)


def test_missing_weights_and_card_have_clear_messages(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        EmotionClassifier.load(tmp_path / "nothing.safetensors")
    weights = tmp_path / "model.safetensors"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    with pytest.raises(WeightsError, match="model card"):
        EmotionClassifier.load(weights)


def test_pickle_files_are_never_loaded(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\x80\x04\x95 pickle payload")
    import hashlib
    import json

    card = json.loads(card_path_for(DEFAULT_WEIGHTS).read_text())
    card["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    card_path_for(weights).write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="safetensors"):
        EmotionClassifier.load(weights)
