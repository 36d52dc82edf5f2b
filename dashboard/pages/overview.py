"""Overview: headline accuracy, per-class scores, model card, comparison with the paper."""

import pandas as pd
import plotly.express as px
import streamlit as st

from core.labels import LABELS
from dashboard.data import PAPER_ACCURACY, load_card, load_metrics, require, results_dir

st.title("Overview")
metrics = require(load_metrics, str(results_dir()))
test = metrics["test"]

rows = []
for mode, name in (("none", "no TTA"), ("flip", "flip TTA"), ("tencrop", "ten-crop TTA")):
    if mode in test:
        rows.append({"TTA": name, **{split: test[mode][split]["accuracy"] for split in ("all", "PublicTest", "PrivateTest")},
                     "macro-F1": test[mode]["all"]["macro_f1"]})  # fmt: skip
table = pd.DataFrame(rows).set_index("TTA")

best = table["all"].max()
columns = st.columns(4)
columns[0].metric("Test accuracy (7,178 images)", f"{test['none']['all']['accuracy']:.2%}",
                  f"{(test['none']['all']['accuracy'] - PAPER_ACCURACY) * 100:+.2f} pt vs paper")  # fmt: skip
columns[1].metric("Best with TTA", f"{best:.2%}", f"{(best - PAPER_ACCURACY) * 100:+.2f} pt vs paper")
columns[2].metric("PrivateTest", f"{test['none']['PrivateTest']['accuracy']:.2%}")
columns[3].metric("Macro-F1", f"{test['none']['all']['macro_f1']:.3f}")
st.caption(f"Paper (arXiv 2601.18228, EfficientNet-B2): {PAPER_ACCURACY:.2%} on all 7,178 test images.")

st.subheader("Accuracy by split and test-time augmentation")
st.dataframe(
    table.style.format("{:.2%}", subset=["all", "PublicTest", "PrivateTest"]).format("{:.3f}", subset=["macro-F1"])
)

st.subheader("Per-class precision, recall and F1 (all test images, no TTA)")
per_class = pd.DataFrame(test["none"]["all"]["per_class"]).T.reindex(LABELS)
st.dataframe(per_class.style.format({"precision": "{:.3f}", "recall": "{:.3f}", "f1": "{:.3f}", "support": "{:.0f}"}))
long = per_class.reset_index(names="class").melt(id_vars="class", value_vars=["precision", "recall", "f1"],
                                                 var_name="score")  # fmt: skip
st.plotly_chart(px.bar(long, x="class", y="value", color="score", barmode="group", range_y=[0, 1]), key="per_class")

with st.expander("Model card"):
    try:
        st.json(load_card())
    except Exception as error:
        st.warning(f"Model card unavailable: {error}")
