"""The browser's first charts: drawn once per tab, out of sight, while the user reads the first page."""
from __future__ import annotations

import numpy as np
import streamlit as st

_WARM_STAGE = "_alcore_browser_warm"
WARM_DELAY_S = 1.5  # after the tab's first page: that render is not slowed down
_WARM_CSS = ("<style>.st-key-alcore_warm{position:fixed;left:-5000px;top:0;width:600px;opacity:0;"
             "pointer-events:none}</style>")


def warm_browser() -> None:
    """Once per browser tab, draw a tiny chart, table and image out of sight while the user reads the first page.

    The first plotly chart, table and image a tab draws cost its browser about 2 s of its own: Streamlit loads
    their modules when one is first drawn (4.7 MB of JavaScript for plotly, 0.8 s to evaluate) and React holds
    the page back while a module loads. Without this the first Step paid for it. A fragment draws nothing in the
    tab's first script run and the hidden elements in its own rerun ``WARM_DELAY_S`` later; any full run before
    that (the user acted first) cancels it, and the full run after it drops the fragment, which ends its timer.
    """
    if st.session_state.get(_WARM_STAGE) is not None:
        st.session_state[_WARM_STAGE] = "done"
        return

    @st.fragment(run_every=WARM_DELAY_S)
    def warm() -> None:
        if st.session_state.get(_WARM_STAGE) != "armed":
            return
        st.session_state[_WARM_STAGE] = "done"
        st.html(_WARM_CSS)
        with st.container(key="alcore_warm"):
            st.plotly_chart({"data": [{"type": "scatter", "mode": "markers", "x": [0, 1], "y": [1, 0]}],
                             "layout": {"title": {"text": "·"}, "height": 160}}, key="alcore_warm_chart")
            st.dataframe({"index": [0, 1], "utility": [0.5, 0.25]}, hide_index=True, height=80)
            st.image([np.zeros((8, 8)), np.ones((8, 8))], width=52, caption=["0", "1"])

    warm()  # in the tab's first run: nothing yet
    st.session_state[_WARM_STAGE] = "armed"
