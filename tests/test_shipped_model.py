"""The shipped model on the real FER-2013 test set (runs when FER2013_PATH is set, as in CI)."""

import os

import numpy as np
import pytest

from core import EmotionClassifier
from training.data import load_fer2013
from training.evaluate import summarize

DATA = os.environ.get("FER2013_PATH")


@pytest.mark.slow
@pytest.mark.skipif(not DATA, reason="set FER2013_PATH to the FER-2013 zip, folder or csv")
def test_shipped_model_accuracy_matches_its_card():
    classifier = EmotionClassifier.load()
    recorded = classifier.card["test_metrics"]
    test = load_fer2013(DATA).test
    assert len(test) == 7178
    predicted = classifier.predict_proba(test.images).argmax(1)
    for split in ("all", "PublicTest", "PrivateTest"):
        mask = np.ones(len(test), bool) if split == "all" else test.usage == split
        measured = summarize(test.labels[mask], predicted[mask])["accuracy"]
        assert measured * 100 == pytest.approx(recorded["none"][split]["accuracy"] * 100, abs=0.1), split
    assert recorded["none"]["all"]["accuracy"] >= 0.60
