"""Evaluation reports: the tables and figures of a model comparison (``scripts/compare.py``)."""
from .report import (
    DATASET_LEVEL,
    ResultRow,
    choose_crop,
    dataset_means,
    plot_pd,
    plot_visual,
    read_compare_csv,
    report_markdown,
    table_markdown,
)

__all__ = [
    'DATASET_LEVEL', 'ResultRow', 'choose_crop', 'dataset_means', 'plot_pd', 'plot_visual', 'read_compare_csv',
    'report_markdown', 'table_markdown',
]
