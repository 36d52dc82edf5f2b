"""Every dashboard page under streamlit.testing.v1.AppTest, on generated results and images."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.labels import LABELS
from dashboard.analysis import fear_sad_shift, fit_temperature, reliability, scale_temperature
from training.evaluate import summarize

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
PAGES = ["overview", "confusion", "misclassified", "training", "calibration", "data_quality"]


@pytest.fixture(scope="module")
def results(tmp_path_factory, fer_rows) -> Path:
    """A fake evaluation of the synthetic test faces, in the files fer-eval writes."""
    folder = tmp_path_factory.mktemp("results") / "fake_run"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = [(name, usage, label) for name, usage, label, _ in fer_rows if usage != "Training"]
    rows += [(name, "Validation", label) for name, usage, label, _ in fer_rows if usage == "Training"][:30]
    logits = rng.normal(0, 1, (len(rows), 7))
    logits[np.arange(len(rows)), [r[2] for r in rows]] += 1.5  # mostly right, some mistakes
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    with open(folder / "predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "split", "true", "pred", "pred_flip", "pred_tencrop", *(f"p_{l}" for l in LABELS)])
        for (name, usage, label), p in zip(rows, probs, strict=True):
            pred = LABELS[int(p.argmax())]
            writer.writerow([name, usage, LABELS[label], pred, pred, pred, *p])
    test = [i for i, r in enumerate(rows) if r[1] != "Validation"]
    truth = np.array([rows[i][2] for i in test])
    usage = np.array([rows[i][1] for i in test])
    pred = probs[test].argmax(1)
    split_metrics = {s: summarize(truth[m], pred[m]) for s, m in
                     (("all", usage == usage), ("PublicTest", usage == "PublicTest"), ("PrivateTest", usage == "PrivateTest"))}  # fmt: skip
    metrics = {
        "test": {mode: split_metrics for mode in ("none", "flip", "tencrop")},
        "validation": split_metrics["all"],
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    history = ["epoch,stage,lr,train_loss,train_acc,val_loss,val_acc,val_macro_f1,seconds"]
    history += [f"{e},{'warmup' if e <= 2 else 'finetune'},{0.001 / e},{2 - e / 10},{0.2 + e / 20},{1.9 - e / 12},{0.25 + e / 25},{0.2 + e / 30},60"
                for e in range(1, 7)]  # fmt: skip
    (folder / "history.csv").write_text("\n".join(history) + "\n")
    return folder


def run_page(page: str, monkeypatch, results: Path, data: Path | None) -> AppTest:
    monkeypatch.setenv("FER_RESULTS_DIR", str(results))
    if data is None:
        monkeypatch.delenv("FER2013_PATH", raising=False)
    else:
        monkeypatch.setenv("FER2013_PATH", str(data))
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    assert not app.exception, app.exception
    if page != "overview":
        app.switch_page(f"pages/{page}.py")
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def charts(app: AppTest) -> int:
    return len(app.get("plotly_chart"))


def test_overview(monkeypatch, results, fer_folder):
    app = run_page("overview", monkeypatch, results, fer_folder)
    assert any("vs paper" in str(m.delta) for m in app.metric)
    assert charts(app) >= 1 and len(app.dataframe) >= 2


def test_confusion_and_fear_sad(monkeypatch, results, fer_folder):
    app = run_page("confusion", monkeypatch, results, fer_folder)
    assert charts(app) >= 3  # matrix, scatter, sweep
    before = [m.value for m in app.metric]
    app.slider[0].set_value(1.5).run()
    assert not app.exception
    assert [m.value for m in app.metric] != before  # the decision shift moves the recalls
    app.toggle[0].set_value(True).run()
    assert not app.exception
    app.selectbox[0].set_value("happy").run()
    app.selectbox[1].set_value("happy").run()
    assert any("predicted as **happy**" in m.value for m in app.markdown)


def test_misclassified_filters_change_the_list(monkeypatch, results, fer_folder):
    app = run_page("misclassified", monkeypatch, results, fer_folder)

    def count(app: AppTest) -> int:
        line = next(m.value for m in app.markdown if "misclassified test images match" in m.value)
        return int(line.split("**")[1])

    everything = count(app)
    assert everything > 0
    app.multiselect[0].set_value(["fear"]).run()
    assert not app.exception and count(app) < everything
    app.multiselect[0].set_value([]).run()
    app.slider[0].set_value((0.9, 1.0)).run()
    assert count(app) < everything
    app.slider[0].set_value((0.0, 1.0)).run()
    assert any(h.value == "Inspect a face" for h in app.subheader)
    assert len(app.get("image")) >= 3  # the grid, the enlarged face and two Grad-CAM overlays
    assert charts(app) == 1  # the inspected face's probabilities


def test_training_curves(monkeypatch, results, fer_folder):
    app = run_page("training", monkeypatch, results, fer_folder)
    assert charts(app) == 4 and len(app.dataframe) == 1


def test_calibration(monkeypatch, results, fer_folder):
    app = run_page("calibration", monkeypatch, results, fer_folder)
    assert charts(app) == 1
    labels = [m.label for m in app.metric]
    assert "ECE before" in labels and "ECE after" in labels


def test_data_quality(monkeypatch, results, fer_folder):
    app = run_page("data_quality", monkeypatch, results, fer_folder)
    assert any(m.label == "Groups of identical images" for m in app.metric)


@pytest.mark.parametrize("page", ["confusion", "misclassified", "data_quality"])
def test_without_the_data_set_says_how_to_point_at_it(monkeypatch, results, page):
    app = run_page(page, monkeypatch, results, None)
    assert any("FER2013_PATH" in i.value for i in app.info)


def test_missing_and_malformed_results_get_a_message(monkeypatch, tmp_path):
    app = run_page("overview", monkeypatch, tmp_path / "nowhere", None)
    assert any("fer-eval" in e.value for e in app.error)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.json").write_text("{not json")
    (bad / "predictions.csv").write_text("a,b\n1,2\n")
    assert any("malformed" in e.value for e in run_page("overview", monkeypatch, bad, None).error)
    assert any("lacks columns" in e.value for e in run_page("confusion", monkeypatch, bad, None).error)


def test_analysis_functions():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (2000, 7))
    # Labels drawn from softmax(logits / 2): the model's probabilities are over-confident by T = 2.
    true_probs = np.exp(logits / 2) / np.exp(logits / 2).sum(1, keepdims=True)
    labels = np.array([rng.choice(7, p=p) for p in true_probs])
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    temperature = fit_temperature(probs, labels)
    assert 1.6 < temperature < 2.5
    _, ece_before = reliability(probs.max(1), probs.argmax(1) == labels)
    scaled = scale_temperature(probs, temperature)
    _, ece_after = reliability(scaled.max(1), scaled.argmax(1) == labels)
    assert ece_after < ece_before
    assert (scaled.argmax(1) == probs.argmax(1)).all()
    import pandas as pd

    frame = pd.DataFrame(probs, columns=[f"p_{l}" for l in LABELS]).assign(true=np.array(LABELS)[labels])
    assert fear_sad_shift(frame, 5)["fear_recall"] >= fear_sad_shift(frame, 0)["fear_recall"]
    assert fear_sad_shift(frame, -5)["sad_recall"] >= fear_sad_shift(frame, 0)["sad_recall"]
