"""Drawing results for people: boxes and labels on photos, probability charts."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import plotly.graph_objects as go
from PIL import Image

from core.faces import FaceResult
from core.labels import LABELS

# One colour per emotion (RGB), reused by the demo and the dashboard.
EMOTION_COLORS = {
    "angry": (220, 50, 47),
    "disgust": (133, 153, 0),
    "fear": (108, 113, 196),
    "happy": (238, 180, 0),
    "neutral": (147, 161, 161),
    "sad": (38, 139, 210),
    "surprise": (211, 54, 130),
}


def draw_faces(image: Image.Image, faces: Sequence[FaceResult]) -> np.ndarray:
    """RGB uint8 copy of ``image`` with each face's box, number and top label drawn on it."""
    canvas = np.asarray(image.convert("RGB")).copy()
    thickness = max(2, round(max(canvas.shape[:2]) / 400))
    font_scale = max(0.5, max(canvas.shape[:2]) / 1200)
    for number, face in enumerate(faces, start=1):
        x, y, w, h = face.box
        color = EMOTION_COLORS.get(face.label, (255, 255, 255))
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, thickness)
        text = f"{number}: {face.label} {face.confidence:.0%}"
        (tw, th), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = y - th - baseline - 4 if y - th - baseline - 4 >= 0 else y + h
        cv2.rectangle(canvas, (x, top), (x + tw + 6, top + th + baseline + 4), color, -1)
        cv2.putText(canvas, text, (x + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness)
    return canvas


def probability_chart(faces: Sequence[FaceResult] | Sequence[dict[str, float]], title: str = "") -> go.Figure:
    """Grouped horizontal bars: the seven probabilities of every face."""
    figure = go.Figure()
    for number, face in enumerate(faces, start=1):
        probabilities = face.probabilities if isinstance(face, FaceResult) else face
        figure.add_bar(
            name=f"face {number}",
            y=LABELS,
            x=[probabilities[label] for label in LABELS],
            orientation="h",
            text=[f"{probabilities[label]:.0%}" for label in LABELS],
            textposition="auto",
        )
    figure.update_layout(
        title=title or None,
        barmode="group",
        xaxis={"range": [0, 1], "tickformat": ".0%", "title": "probability"},
        yaxis={"autorange": "reversed", "automargin": True},
        height=180 + 40 * max(1, len(faces)) * 2,
        margin={"l": 80, "r": 10, "t": 40 if title else 10, "b": 10},  # room for the class names
        legend={"orientation": "h"},
        showlegend=len(faces) > 1,
    )
    return figure
