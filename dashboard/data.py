"""Loading the evaluation files, the model and the data set for the dashboard (cached)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.labels import LABELS
from dashboard.analysis import PROBABILITY_COLUMNS, add_derived_columns

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = ROOT / "results" / "efficientnet_b2"
PAPER_ACCURACY = 0.6878  # arXiv 2601.18228, all 7,178 test images
PREDICTION_COLUMNS = {"file", "split", "true", "pred", *PROBABILITY_COLUMNS}


class DashboardDataError(RuntimeError):
    """A results file is missing or malformed; the message says which and how to fix it."""


def results_dir() -> Path:
    return Path(st.session_state.get("results_dir") or os.environ.get("FER_RESULTS_DIR") or DEFAULT_RESULTS)


def data_path() -> str | None:
    return st.session_state.get("data_path") or os.environ.get("FER2013_PATH") or None


@st.cache_data(show_spinner=False)
def load_metrics(folder: str) -> dict:
    path = Path(folder) / "metrics.json"
    if not path.exists():
        raise DashboardDataError(f"{path} not found. Run `fer-eval --data PATH --out {folder}` to create it.")
    try:
        metrics = json.loads(path.read_text())
        metrics["test"]["none"]["all"]["accuracy"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise DashboardDataError(f"{path} is malformed ({error}); re-run `fer-eval`.") from error
    return metrics


@st.cache_data(show_spinner=False)
def load_predictions(folder: str) -> pd.DataFrame:
    path = Path(folder) / "predictions.csv"
    if not path.exists():
        raise DashboardDataError(f"{path} not found. Run `fer-eval --data PATH --out {folder}` to create it.")
    try:
        frame = pd.read_csv(path)
    except Exception as error:
        raise DashboardDataError(f"{path} cannot be read as CSV ({error}).") from error
    missing = PREDICTION_COLUMNS - set(frame.columns)
    if missing:
        raise DashboardDataError(f"{path} lacks columns {sorted(missing)}; re-run `fer-eval`.")
    if not set(frame["true"]).union(frame["pred"]) <= set(LABELS):
        raise DashboardDataError(f"{path} has labels outside {LABELS}.")
    return add_derived_columns(frame)


@st.cache_data(show_spinner=False)
def load_histories(folder: str) -> dict[str, pd.DataFrame]:
    """history.csv of this run plus any sibling runs (results/*/history.csv), keyed by run name."""
    histories = {}
    for path in sorted(Path(folder).parent.glob("*/history.csv")):
        try:
            frame = pd.read_csv(path)
        except Exception:
            continue
        if {"epoch", "train_loss", "val_acc"} <= set(frame.columns):
            histories[path.parent.name] = frame
    return histories


@st.cache_data(show_spinner=False)
def load_card() -> dict:
    from core.weights import read_card

    return read_card()


@st.cache_resource(show_spinner="Loading the model…")
def load_classifier():
    from core import EmotionClassifier

    return EmotionClassifier.load()


@st.cache_data(show_spinner="Loading FER-2013 images…")
def load_images(path: str) -> dict:
    """All FER-2013 images keyed by file name, plus arrays for data-quality analysis."""
    from training.data import load_fer2013

    data = load_fer2013(path)
    return {
        "images": data.images,
        "labels": data.labels,
        "usage": data.usage,
        "names": data.names,
        "index": {name: i for i, name in enumerate(data.names)},
    }


def images_or_none() -> dict | None:
    """The data set when configured and readable; otherwise a sidebar hint and None."""
    path = data_path()
    if not path:
        return None
    try:
        return load_images(path)
    except Exception as error:
        st.sidebar.error(f"Cannot load FER-2013 from {path}: {error}")
        return None


def face_image(data: dict | None, name: str) -> np.ndarray | None:
    if data is None or name not in data["index"]:
        return None
    return data["images"][data["index"][name]]


def need_data_message() -> None:
    st.info(
        "Face images come from the FER-2013 data set, which is not part of this repository. "
        "Set `FER2013_PATH` to Kaggle's zip/folder or `fer2013.csv`, or type the path in the sidebar."
    )


def require(loader, *args):
    """Call a loader; on a missing or malformed file show the message and stop the page."""
    try:
        return loader(*args)
    except DashboardDataError as error:
        st.error(str(error))
        st.stop()


def face_grid(frame: pd.DataFrame, data: dict, columns: int = 8, width: int = 80, caption=None, container=st) -> None:
    """Thumbnails of the faces in ``frame`` (column "file"), ``columns`` per row."""
    caption = caption or (lambda row: f"{row.confidence:.0%}")
    slots = container.columns(columns)
    for i, row in enumerate(frame.itertuples()):
        image = face_image(data, row.file)
        if image is not None:
            slots[i % columns].image(image, caption=caption(row), width=width)
