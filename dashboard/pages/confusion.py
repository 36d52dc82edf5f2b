"""Confusion matrix, the images behind each cell, and the fear-vs-sad analysis."""

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.labels import LABELS
from dashboard.analysis import confusion, fear_sad_shift
from dashboard.data import face_grid, images_or_none, load_predictions, need_data_message, require, results_dir

st.title("Confusion")
predictions = require(load_predictions, str(results_dir()))
split = st.radio("Split", ["all test", "PublicTest", "PrivateTest"], horizontal=True)
frame = predictions[predictions["split"].isin(["PublicTest", "PrivateTest"] if split == "all test" else [split])]

st.subheader("Confusion matrix")
normalized = st.toggle("Row-normalised (recall per true class)", value=False)
matrix = confusion(frame, normalize=normalized)
figure = px.imshow(matrix, text_auto=".2f" if normalized else "d", color_continuous_scale="Blues",
                   labels={"x": "predicted", "y": "true", "color": "share" if normalized else "images"})  # fmt: skip
figure.update_layout(height=520)
st.plotly_chart(figure, key="confusion_matrix")

st.subheader("Images in a cell")
left, right = st.columns(2)
true_label = left.selectbox("True class", LABELS, index=LABELS.index("fear"))
predicted_label = right.selectbox("Predicted class", LABELS, index=LABELS.index("sad"))
cell = frame[(frame["true"] == true_label) & (frame["pred"] == predicted_label)].sort_values(
    "confidence", ascending=False
)
st.write(f"{len(cell)} images are **{true_label}** predicted as **{predicted_label}**.")
st.dataframe(cell[["file", "split", "confidence", "margin", "p_true"]], hide_index=True, height=220)
data = images_or_none()
if data is None:
    need_data_message()
else:
    face_grid(cell.head(24), data)

st.header("Fear vs sad")
both = frame[frame["true"].isin(["fear", "sad"])]
pair = both[both["pred"].isin(["fear", "sad"])]
st.dataframe(confusion(pair).loc[["fear", "sad"], ["fear", "sad"]])
scatter = px.scatter(both, x="p_fear", y="p_sad", color="true", hover_data=["file", "pred"], opacity=0.5,
                     color_discrete_map={"fear": "#6c71c4", "sad": "#268bd2"})  # fmt: skip
scatter.add_trace(
    go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="p(fear) = p(sad)")
)
st.plotly_chart(scatter, key="fear_sad_scatter")

left, right = st.columns(2)
for column, (truth, wrong) in zip((left, right), (("fear", "sad"), ("sad", "fear")), strict=True):
    worst = both[(both["true"] == truth) & (both["pred"] == wrong)].sort_values("confidence", ascending=False).head(8)
    column.markdown(f"**Most confident: {truth} predicted as {wrong}**")
    column.dataframe(worst[["file", "confidence", "p_fear", "p_sad"]], hide_index=True)
    if data is not None:
        face_grid(worst, data, columns=4, width=72, container=column)

st.subheader("Shifting the fear/sad decision")
bias = st.slider("Bias added to log p(fear)", -2.0, 2.0, 0.0, 0.1,
                 help="Positive values predict fear more often; other classes are unchanged.")  # fmt: skip
current = fear_sad_shift(frame, bias)
columns = st.columns(3)
base = fear_sad_shift(frame, 0.0)
columns[0].metric(
    "fear recall", f"{current['fear_recall']:.1%}", f"{(current['fear_recall'] - base['fear_recall']) * 100:+.1f} pt"
)
columns[1].metric(
    "sad recall", f"{current['sad_recall']:.1%}", f"{(current['sad_recall'] - base['sad_recall']) * 100:+.1f} pt"
)
columns[2].metric("accuracy", f"{current['accuracy']:.2%}", f"{(current['accuracy'] - base['accuracy']) * 100:+.2f} pt")
sweep = pd.DataFrame([{"bias": b, **fear_sad_shift(frame, b)} for b in np.round(np.linspace(-2, 2, 41), 2)])
curve = px.line(sweep, x="bias", y=["fear_recall", "sad_recall", "accuracy"], labels={"value": "rate"})
curve.add_vline(x=bias, line_dash="dash")
st.plotly_chart(curve, key="fear_sad_sweep")
