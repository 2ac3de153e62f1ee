"""Reports: QuantStats tear-sheet of the real backtest, robustness page, figures.

The only layer that imports matplotlib and QuantStats (QuantStats on first use).
"""

from diffbt.report.plots import facts_figure, fan_chart, metric_histograms, price_fan
from diffbt.report.robustness import render_robustness, robustness_report
from diffbt.report.tearsheet import median_path, tearsheet, tearsheet_from_result

__all__ = [
    "facts_figure",
    "fan_chart",
    "median_path",
    "metric_histograms",
    "price_fan",
    "render_robustness",
    "robustness_report",
    "tearsheet",
    "tearsheet_from_result",
]
