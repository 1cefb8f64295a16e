"""Streamlit helpers for the dashboard's pages (``pages/`` holds only pages: every ``.py`` there is one).

Free of Streamlit (plain functions, testable alone): ``ui.state`` (session keys, settings),
``ui.charts`` (Plotly figures), ``ui.data`` (Data-page logic), ``ui.detect`` (Detect/Explore
tables, label curves, quick threshold rules), ``ui.selection`` (chart and table selection
events → rows), ``ui.formatting`` (times and durations), ``ui.train`` (Train-page options).

Streamlit wiring: ``ui.common`` (page setup, sidebar, links, cached loaders), ``ui.scored``
(the model + data + scores preamble of Detect and Explore), ``ui.threshold`` (threshold
inputs, quick rules, metrics, histogram), ``ui.review`` (flagged table, explanation, label
metrics), ``ui.upload`` (uploads and the column-mapping form).
"""
