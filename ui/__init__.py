"""Streamlit helpers for the dashboard: session keys, cached loaders, shared layout, charts.

Only ``ui.charts`` and ``ui.data`` are free of Streamlit (plain functions, testable alone).
"""
