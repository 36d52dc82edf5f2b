"""Training curves from the run history (several runs overlaid when there are several)."""

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard.data import load_histories, results_dir

st.title("Training curves")
histories = load_histories(str(results_dir()))
if not histories:
    st.warning(f"No history.csv found next to {results_dir()}. `fer-ship` copies a run's history there.")
    st.stop()

runs = st.multiselect("Runs", list(histories), default=list(histories))
if not runs:
    st.stop()
frame = pd.concat([histories[name].assign(run=name) for name in runs], ignore_index=True)
plots = [
    ("Loss", ["train_loss", "val_loss"]),
    ("Accuracy", ["train_acc", "val_acc"]),
    ("Validation macro-F1", ["val_macro_f1"]),
    ("Learning rate", ["lr"]),
]
left, right = st.columns(2)
for i, (title, columns) in enumerate(plots):
    present = [c for c in columns if c in frame.columns]
    if not present:
        continue
    long = frame.melt(id_vars=["run", "epoch"], value_vars=present, var_name="series")
    long["line"] = long["run"] + " · " + long["series"] if len(runs) > 1 else long["series"]
    figure = px.line(long, x="epoch", y="value", color="line", markers=True, title=title)
    if "stage" in frame.columns:
        for name in runs:
            history = histories[name]
            warmup = history[history["stage"] == "warmup"]
            if len(warmup) and len(warmup) < len(history):
                figure.add_vline(x=warmup["epoch"].max() + 0.5, line_dash="dash", line_color="grey",
                                 annotation_text="warm-up → fine-tune")  # fmt: skip
    (left if i % 2 == 0 else right).plotly_chart(figure, key=f"curve_{i}")

st.subheader("History")
st.dataframe(frame, hide_index=True)
