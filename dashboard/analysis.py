"""Error-analysis computations behind the dashboard (pure numpy / pandas, no Streamlit)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from core.labels import LABELS

PROBABILITY_COLUMNS = [f"p_{label}" for label in LABELS]


def probabilities(frame: pd.DataFrame) -> np.ndarray:
    return frame[PROBABILITY_COLUMNS].to_numpy(dtype=np.float64)


def add_derived_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """confidence (top probability), margin (top minus runner-up), p_true, correct."""
    frame = frame.copy()
    probs = probabilities(frame)
    ordered = np.sort(probs, axis=1)
    frame["confidence"] = ordered[:, -1]
    frame["margin"] = ordered[:, -1] - ordered[:, -2]
    true_index = frame["true"].map(LABELS.index).to_numpy()
    frame["p_true"] = probs[np.arange(len(frame)), true_index]
    frame["correct"] = frame["true"] == frame["pred"]
    return frame


def confusion(frame: pd.DataFrame, normalize: bool = False) -> pd.DataFrame:
    """Confusion matrix as a labelled frame (rows true, columns predicted)."""
    table = pd.crosstab(
        pd.Categorical(frame["true"], LABELS), pd.Categorical(frame["pred"], LABELS), dropna=False
    ).reindex(index=LABELS, columns=LABELS, fill_value=0)
    table.index.name, table.columns.name = "true", "predicted"
    if normalize:
        table = table.div(table.sum(axis=1).replace(0, 1), axis=0)
    return table


def fear_sad_shift(frame: pd.DataFrame, bias: float) -> dict[str, float]:
    """Recalls of fear and sad when ``bias`` is added to fear's log-probability
    (positive: more fear predictions). Other classes keep their scores."""
    log_p = np.log(np.clip(probabilities(frame), 1e-12, 1.0))
    log_p[:, LABELS.index("fear")] += bias
    predicted = np.array(LABELS)[log_p.argmax(1)]
    result = {}
    for label in ("fear", "sad"):
        mask = frame["true"].to_numpy() == label
        result[f"{label}_recall"] = float((predicted[mask] == label).mean()) if mask.any() else float("nan")
    result["accuracy"] = float((predicted == frame["true"].to_numpy()).mean()) if len(frame) else float("nan")
    return result


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> tuple[pd.DataFrame, float]:
    """Per-bin accuracy vs confidence and the expected calibration error (ECE)."""
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        mask = index == b
        if not mask.any():
            continue
        acc, conf = float(correct[mask].mean()), float(confidence[mask].mean())
        ece += mask.mean() * abs(acc - conf)
        rows.append(
            {
                "bin_low": edges[b],
                "bin_high": edges[b + 1],
                "confidence": conf,
                "accuracy": acc,
                "count": int(mask.sum()),
            }
        )
    return pd.DataFrame(rows), float(ece)


def scale_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood (golden-section search on log T).

    Log-probabilities equal logits up to a per-row constant, so this is exact
    temperature scaling."""

    def nll(log_t: float) -> float:
        scaled = scale_temperature(probs, float(np.exp(log_t)))
        return float(-np.log(np.clip(scaled[np.arange(len(labels)), labels], 1e-12, 1)).mean())

    low, high = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    for _ in range(60):
        if nll(a) < nll(b):
            high, b = b, a
            a = high - ratio * (high - low)
        else:
            low, a = a, b
            b = low + ratio * (high - low)
    return float(np.exp((low + high) / 2))


def pixel_hashes(images: np.ndarray) -> np.ndarray:
    """A digest of each image's exact pixels."""
    return np.array([hashlib.blake2b(image.tobytes(), digest_size=12).hexdigest() for image in images])


def duplicate_groups(hashes: np.ndarray, labels: np.ndarray, usage: np.ndarray, names: np.ndarray) -> pd.DataFrame:
    """One row per group of pixel-identical images (size >= 2)."""
    frame = pd.DataFrame({"hash": hashes, "label": np.array(LABELS)[labels], "usage": usage, "file": names})
    sizes = frame.groupby("hash")["file"].transform("size")
    frame = frame[sizes > 1]
    columns = ["hash", "size", "labels", "n_labels", "splits", "crosses_train_test", "files"]
    if frame.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=bool if c == "crosses_train_test" else int if c in ("size", "n_labels") else str)
                for c in columns
            }
        )
    groups = frame.groupby("hash").agg(
        size=("file", "size"),
        labels=("label", lambda s: ", ".join(sorted(set(s)))),
        n_labels=("label", "nunique"),
        splits=("usage", lambda s: ", ".join(sorted(set(s)))),
        crosses_train_test=("usage", lambda s: "Training" in set(s) and bool({"PublicTest", "PrivateTest"} & set(s))),
        files=("file", lambda s: " ".join(s)),
    )
    return groups.reset_index().sort_values(["n_labels", "size"], ascending=False)
