"""Browse misclassified test faces; inspect one with Grad-CAM for the predicted and the true class."""

import streamlit as st

from core import explain, overlay_heatmap
from core.labels import LABELS
from core.render import probability_chart
from dashboard.data import (
    face_grid,
    face_image,
    images_or_none,
    load_classifier,
    load_predictions,
    need_data_message,
    require,
    results_dir,
)

PAGE_SIZE = 24

st.title("Misclassified faces")
predictions = require(load_predictions, str(results_dir()))
wrong = predictions[(~predictions["correct"]) & predictions["split"].isin(["PublicTest", "PrivateTest"])]

with st.container(border=True):
    a, b, c = st.columns(3)
    true_filter = a.multiselect("True class", LABELS, default=[])
    pred_filter = b.multiselect("Predicted class", LABELS, default=[])
    split_filter = c.multiselect("Split", ["PublicTest", "PrivateTest"], default=["PublicTest", "PrivateTest"])
    a, b = st.columns([2, 1])
    low, high = a.slider("Confidence of the wrong prediction", 0.0, 1.0, (0.0, 1.0), 0.05)
    order = b.selectbox(
        "Sort by", ["confidence (high first)", "confidence (low first)", "margin (high first)", "margin (low first)"]
    )

shown = wrong[wrong["confidence"].between(low, high) & wrong["split"].isin(split_filter)]
if true_filter:
    shown = shown[shown["true"].isin(true_filter)]
if pred_filter:
    shown = shown[shown["pred"].isin(pred_filter)]
key, direction = order.split(" (")
shown = shown.sort_values(key, ascending=direction.startswith("low"))
st.write(f"**{len(shown)}** misclassified test images match (of {len(wrong)}).")
st.dataframe(shown[["file", "split", "true", "pred", "confidence", "margin", "p_true"]], hide_index=True, height=200)

data = images_or_none()
if data is None:
    need_data_message()
    st.stop()
if shown.empty:
    st.stop()

pages = max(1, (len(shown) + PAGE_SIZE - 1) // PAGE_SIZE)
page = st.number_input("Page", 1, pages, 1, help=f"{PAGE_SIZE} faces per page") - 1
subset = shown.iloc[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
face_grid(subset, data, width=88, caption=lambda row: f"{row.true}→{row.pred} {row.confidence:.0%}")

st.subheader("Inspect a face")
choice = st.selectbox(
    "Face",
    subset["file"].tolist(),
    format_func=lambda f: (
        f"{f} ({subset.set_index('file').loc[f, 'true']} → {subset.set_index('file').loc[f, 'pred']})"
    ),
)
row = subset.set_index("file").loc[choice]
image = face_image(data, choice)
if image is not None:
    classifier = load_classifier()
    left, middle, right = st.columns(3)
    left.image(image, width=192, caption=f"{choice} · true {row['true']}")
    for column, target in ((middle, row["pred"]), (right, row["true"])):
        heatmap = explain(classifier, image, target=target)
        column.image(overlay_heatmap(image, heatmap, alpha=0.5, size=192), width=192, caption=f"Grad-CAM for {target}")
    probabilities = {label: float(row[f"p_{label}"]) for label in LABELS}
    st.plotly_chart(probability_chart([probabilities]), key="inspect_probabilities")
