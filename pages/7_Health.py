"""Model health page: does the scored log still look like the model's training mail?"""

from __future__ import annotations

import streamlit as st

from ui import auth, health, state
from ui.common import page_setup
from ui.scored import choose_model_and_data, score_or_stop

page_setup("Model health")
auth.page_requires("score")
st.title("Model health")

choice, _ = choose_model_and_data([2, 3], picker_key=state.HEALTH_MODEL_PICKER, dataset_key=state.HEALTH_DATASET)
health.full_view(score_or_stop(choice))
