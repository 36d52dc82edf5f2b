"""Streamlit dashboard: error analysis of the shipped model on the FER-2013 test set.

fer-dashboard                                  # binds 127.0.0.1:8501
streamlit run dashboard/app.py --server.address 127.0.0.1
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` from a checkout
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.data import data_path, results_dir  # noqa: E402

st.set_page_config(page_title="FER-2013 error analysis", page_icon="🙂", layout="wide")

PAGES = Path(__file__).resolve().parent / "pages"
navigation = st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", icon="📊", default=True),
        st.Page(PAGES / "confusion.py", title="Confusion", icon="🔀"),
        st.Page(PAGES / "misclassified.py", title="Misclassified", icon="🔍"),
        st.Page(PAGES / "training.py", title="Training curves", icon="📈"),
        st.Page(PAGES / "calibration.py", title="Calibration", icon="🎯"),
        st.Page(PAGES / "data_quality.py", title="Data quality", icon="🧹"),
    ]
)
with st.sidebar:
    st.text_input("Results folder", value=str(results_dir()), key="results_dir",
                  help="metrics.json, predictions.csv and history.csv written by fer-eval / fer-ship")  # fmt: skip
    st.text_input("FER-2013 path", value=data_path() or "", key="data_path",
                  help="Kaggle zip or folder, or fer2013.csv; needed for face images")  # fmt: skip
navigation.run()
