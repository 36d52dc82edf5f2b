"""Data quality: pixel-identical duplicates, near-blank images, label conflicts, leakage."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.analysis import duplicate_groups, pixel_hashes
from dashboard.data import data_path, images_or_none, load_predictions, need_data_message, require, results_dir

st.title("Data quality")
data = images_or_none()
if data is None:
    need_data_message()
    st.stop()


@st.cache_data(show_spinner="Hashing images…")
def analyse(path: str) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    hashes = pixel_hashes(data["images"])
    groups = duplicate_groups(hashes, data["labels"], data["usage"], data["names"])
    std = data["images"].reshape(len(data["images"]), -1).std(axis=1)
    blank = pd.DataFrame({"file": data["names"], "usage": data["usage"], "pixel_std": std})
    blank = blank[blank["pixel_std"] < 3].sort_values("pixel_std")
    train_hashes = set(hashes[data["usage"] == "Training"])
    leaked = np.array([h in train_hashes for h in hashes]) & (data["usage"] != "Training")
    return groups, blank, data["names"][leaked]


groups, blank, leaked_names = analyse(data_path())
a, b, c, d = st.columns(4)
a.metric("Groups of identical images", f"{len(groups):,}")
b.metric("Groups spanning train and test", f"{int(groups['crosses_train_test'].sum()):,}")
c.metric("Groups with conflicting labels", f"{int((groups['n_labels'] > 1).sum()):,}")
d.metric("Near-blank images (std < 3)", f"{len(blank):,}")

predictions = require(load_predictions, str(results_dir()))
test = predictions[predictions["split"].isin(["PublicTest", "PrivateTest"])]
clean = test[~test["file"].isin(set(leaked_names))]
a, b = st.columns(2)
a.metric("Test accuracy", f"{test['correct'].mean():.2%}", help=f"{len(test)} images")
b.metric("Excluding test images that also appear in train", f"{clean['correct'].mean():.2%}",
         f"{(clean['correct'].mean() - test['correct'].mean()) * 100:+.2f} pt · {len(test) - len(clean)} removed")  # fmt: skip

st.subheader("Duplicates with conflicting labels")
st.dataframe(groups[groups["n_labels"] > 1], hide_index=True, height=260)
st.subheader("All duplicate groups")
st.dataframe(groups, hide_index=True, height=260)
st.subheader("Near-blank images")
columns = st.columns(8)
for i, row in enumerate(blank.head(16).itertuples()):
    columns[i % 8].image(data["images"][data["index"][row.file]], width=72, caption=f"std {row.pixel_std:.1f}")
st.dataframe(blank, hide_index=True)
