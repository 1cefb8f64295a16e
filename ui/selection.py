"""Decoding of Streamlit selection events (no Streamlit: the events are plain dicts).

``st.plotly_chart(..., on_select="rerun")`` and ``st.dataframe(..., on_select="rerun")``
return dicts (``{"selection": {...}}``); these functions turn them into row positions, so a
page never digs through the event and the mapping back to rows is tested on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def _selection(event: Mapping | None) -> Mapping:
    return (event or {}).get("selection") or {}


def selected_table_row(event: Mapping | None, index: Sequence[int]) -> int | None:
    """The index label of the row picked in a single-row ``st.dataframe`` selection, or None.

    ``index``: the shown table's index (the Detect table's index is the row position in the scores)."""
    rows = _selection(event).get("rows") or []
    return int(index[rows[0]]) if rows else None


def selected_map_rows(event: Mapping | None, flagged: np.ndarray) -> list[int]:
    """Row numbers (into the map's table) of the points a box or lasso selected, sorted, unique.

    Each point carries its row number as ``customdata[0]`` (``charts.tsne_scatter``). A point
    that arrives without customdata (Scattergl can drop it) is mapped back through its trace
    and index: trace 0 holds the rows not ``flagged``, trace 1 the flagged ones, in row order.
    """
    flagged = np.asarray(flagged, dtype=bool)
    traces = (np.flatnonzero(~flagged), np.flatnonzero(flagged))
    rows = set()
    for point in _selection(event).get("points") or []:
        custom = point.get("customdata")
        if custom is not None and len(custom):
            rows.add(int(float(custom[0])))
        elif point.get("curve_number") is not None and point.get("point_index") is not None:
            rows.add(int(traces[point["curve_number"]][point["point_index"]]))
    return sorted(rows)
