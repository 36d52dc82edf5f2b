"""Evaluation, export and batch prediction commands on generated data."""

import csv
import json
import re
import shutil

import pytest
from PIL import Image

from core import LABELS, EmotionClassifier
from core.weights import DEFAULT_WEIGHTS, card_path_for
from training import evaluate, predict, ship
from training.train import main as train_main


@pytest.fixture
def weights_copy(tmp_path):
    weights = tmp_path / "model.safetensors"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    shutil.copy(card_path_for(DEFAULT_WEIGHTS), card_path_for(weights))
    return weights


def test_eval_writes_metrics_and_predictions(fer_zip, weights_copy, tmp_path, capsys):
    out = tmp_path / "results"
    assert (
        evaluate.main(["--data", str(fer_zip), "--weights", str(weights_copy), "--out", str(out), "--update-card"]) == 0
    )
    printed = capsys.readouterr().out
    assert "PublicTest" in printed and "tencrop" in printed and "confusion" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    for mode in ("none", "flip", "tencrop"):
        assert set(metrics["test"][mode]) == {"all", "PublicTest", "PrivateTest"}
        assert metrics["test"][mode]["all"]["n"] == 28
    assert len(metrics["test"]["none"]["all"]["confusion"]) == 7
    with open(out / "predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["split"] for row in rows} == {"PublicTest", "PrivateTest", "Validation"}
    assert len([r for r in rows if r["split"] != "Validation"]) == 28
    assert abs(sum(float(rows[0][f"p_{label}"]) for label in LABELS) - 1) < 1e-4
    card = json.loads(card_path_for(weights_copy).read_text())
    assert card["test_metrics"]["none"]["all"]["accuracy"] == pytest.approx(
        metrics["test"]["none"]["all"]["accuracy"], abs=1e-6
    )
    EmotionClassifier.load(weights_copy)  # updating the card keeps the checksum valid
    table = (out / "model_card.md").read_text()
    accuracy = metrics["test"]["tencrop"]["PrivateTest"]["accuracy"] * 100
    assert f"| {accuracy:.2f} |" in table and "68.78" in table


def test_export_round_trip(fer_zip, tmp_path):
    run = tmp_path / "run"
    args = [
        "--data",
        str(fer_zip),
        "--out-dir",
        str(run),
        "--epochs",
        "1",
        "--warmup-epochs",
        "0",
        "--batch-size",
        "32",
    ]
    assert train_main(args) == 0
    out = tmp_path / "exported.safetensors"
    assert ship.main(["--run", str(run), "--out", str(out), "--results", str(tmp_path / "res")]) == 0
    classifier = EmotionClassifier.load(out)
    assert classifier.card["training"]["epochs_trained"] == 1
    assert (tmp_path / "res" / "history.csv").exists()
    assert ship.main(["--run", str(run), "--out", str(out), "--results", str(tmp_path / "res")]) == 2  # no overwrite


def test_predict_folder_with_a_bad_file(astronaut, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "astronaut.jpg")
    (folder / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "predictions.csv"
    assert predict.main([str(folder), "--out", str(out)]) == 0
    with open(out) as handle:
        rows = {row["file"].split("/")[-1]: row for row in csv.DictReader(handle)}
    assert rows["astronaut.jpg"]["label"] in LABELS and rows["astronaut.jpg"]["face"] == "1"
    assert "not an image" in rows["broken.png"]["error"]
    assert predict.main([str(folder), "--out", str(out)]) == 2  # never overwrites without --force


def test_detection_benchmark_counts_pasted_faces(fer_zip, capsys):
    from demo.detection_benchmark import main

    assert main(["--data", str(fer_zip), "--composites", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 composites, 7 faces;" in out  # 1 + 2 + 3 + 1 faces
    recalls = re.findall(r"recall ([\d.]+)% \(\d+/7\).*ms per photo", out)
    assert len(recalls) == 2 and all(0 <= float(r) <= 100 for r in recalls)


@pytest.mark.parametrize("command", ["evaluate", "benchmark"])
def test_data_set_errors_are_one_line(command, tmp_path, capsys):
    from training import benchmark

    main = {"evaluate": evaluate.main, "benchmark": benchmark.main}[command]
    extra = ["--out", str(tmp_path / "out")] if command == "evaluate" else ["--skip-training"]
    assert main(["--data", str(tmp_path / "missing.zip"), *extra]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not a data set")
    assert main(["--data", str(tmp_path / "notes.txt"), *extra]) == 2
    assert "not a folder, .zip or .csv" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written for a run that could not start


def test_model_card_text_describes_an_swa_run():
    from training.ship import RESULTS_DIR

    metrics = json.loads((RESULTS_DIR / "metrics.json").read_text())
    card = json.loads(card_path_for(DEFAULT_WEIGHTS).read_text())
    card["training"]["config"] |= {"lr": 0.001, "swa_start": 31, "swa_lr": 0.0002}
    card["training"]["exported_weights"] = "the SWA average of the weights at the end of epochs 31-40"
    text = evaluate.format_markdown(metrics["test"], card)
    assert "peak lr 0.001 (SWA from epoch 31 at lr 0.0002)" in text
    assert "exported weights: the SWA average of the weights at the end of epochs 31-40 after epoch" in text


def test_model_card_text_describes_a_distilled_run():
    from training.ship import RESULTS_DIR

    metrics = json.loads((RESULTS_DIR / "metrics.json").read_text())
    card = json.loads(card_path_for(DEFAULT_WEIGHTS).read_text())
    shipped = str(DEFAULT_WEIGHTS)
    card["training"]["config"] |= {"lr": 0.0005, "init_weights": shipped, "teacher_weights": shipped,
                                   "teacher_tta": "tencrop", "distill_weight": 0.5, "swa_start": 0}  # fmt: skip
    text = evaluate.format_markdown(metrics["test"], card)
    assert "peak lr 0.0005, distilled from the weights it started from with tencrop TTA (weight 0.5)" in text
    card["training"]["config"] |= {"teacher_weights": "other/teacher.safetensors", "teacher_tta": "flip"}
    assert "distilled from teacher.safetensors with flip TTA" in evaluate.format_markdown(metrics["test"], card)


def test_model_card_text_names_a_non_default_optimizer():
    from training.ship import RESULTS_DIR

    metrics = json.loads((RESULTS_DIR / "metrics.json").read_text())
    card = json.loads(card_path_for(DEFAULT_WEIGHTS).read_text())
    assert "AdamW wd" in evaluate.format_markdown(metrics["test"], card)  # cards from before the option
    card["training"]["config"] |= {"optimizer": "sgd", "lr": 0.01, "weight_decay": 0.0001, "swa_start": 0}
    text = evaluate.format_markdown(metrics["test"], card)
    assert "peak lr 0.01 with SGD (Nesterov momentum 0.9)" in text
    assert "SGD (Nesterov momentum 0.9) wd 0.0001" in text and "AdamW wd" not in text
