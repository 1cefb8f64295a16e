"""Markdown tables for benchmark output (no extra dependency)."""

import pandas as pd


def markdown_table(frame: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else float_format.format(value)
        return str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
