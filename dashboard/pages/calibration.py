"""Calibration: reliability diagram and ECE, before and after temperature scaling."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.labels import LABELS
from dashboard.analysis import fit_temperature, probabilities, reliability, scale_temperature
from dashboard.data import load_predictions, require, results_dir

st.title("Calibration")
predictions = require(load_predictions, str(results_dir()))
validation = predictions[predictions["split"] == "Validation"]
test = predictions[predictions["split"].isin(["PublicTest", "PrivateTest"])]
if validation.empty:
    st.warning(
        "predictions.csv has no Validation rows; re-run `fer-eval` to fit a temperature on the validation split."
    )
    st.stop()


@st.cache_data(show_spinner=False)
def temperature_for(probs: np.ndarray, labels: np.ndarray) -> float:
    return fit_temperature(probs, labels)


temperature = temperature_for(probabilities(validation), validation["true"].map(LABELS.index).to_numpy())
bins = st.slider("Bins", 5, 30, 15)
truth = test["true"].map(LABELS.index).to_numpy()
before = probabilities(test)
after = scale_temperature(before, temperature)
curves = {}
for name, probs in (("before", before), ("after", after)):
    curves[name] = reliability(probs.max(1), probs.argmax(1) == truth, bins)

a, b, c = st.columns(3)
a.metric("Temperature (fitted on validation)", f"{temperature:.3f}")
b.metric("ECE before", f"{curves['before'][1]:.4f}")
c.metric(
    "ECE after", f"{curves['after'][1]:.4f}", f"{curves['after'][1] - curves['before'][1]:+.4f}", delta_color="inverse"
)

figure = go.Figure()
figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="perfect")
for name, (table, ece) in curves.items():
    figure.add_scatter(x=table["confidence"], y=table["accuracy"], mode="lines+markers", name=f"{name} (ECE {ece:.3f})",
                       text=table["count"], hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{text} images")  # fmt: skip
figure.update_layout(title="Reliability diagram (test set)", xaxis_title="confidence", yaxis_title="accuracy",
                     xaxis={"range": [0, 1]}, yaxis={"range": [0, 1]}, height=520)  # fmt: skip
st.plotly_chart(figure, key="reliability")
st.caption("Temperature scaling divides the logits by T; it changes confidence, never the predicted class.")
