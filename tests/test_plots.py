"""The latency/quality scatter: labels that never cover each other, axes that never run below 0."""

from __future__ import annotations

from itertools import combinations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from modelscout.report.plots import quality_latency_figure, quality_latency_svg


def _results(points: list[tuple[str, float, float, float]]) -> dict:
    """results.json with one ranked candidate per (id, p95 ms, macro-F1, fold std)."""
    candidates = [
        {
            "id": name,
            "status": "ranked",
            "metrics": {
                "probe.macro_f1": {"value": f1, "spread": std, "unit": "fraction"},
                "latency.p95_ms@1": {"value": p95, "unit": "ms"},
                "memory.peak_mb": {"value": 100.0, "unit": "MB"},
            },
        }
        for name, p95, f1, std in points
    ]
    return {
        "candidates": candidates,
        "pareto": [c["id"] for c in candidates],
        "settings": {"constraints": {"max_latency_ms_p95": 100}},
    }


NEAR_TWINS = [  # five points within 0.2 ms and 0.002 of each other, and one far away
    ("sentence-transformers/all-MiniLM-L6-v2", 20.0, 0.900, 0.02),
    ("sentence-transformers/all-MiniLM-L6-v2+int8", 20.1, 0.901, 0.02),
    ("sentence-transformers/all-MiniLM-L6-v2+layers:3", 20.05, 0.899, 0.02),
    ("paraphrase-MiniLM-L6-v2", 20.2, 0.900, 0.02),
    ("all-MiniLM-L12-v2", 19.9, 0.902, 0.02),
    ("baseline:tfidf", 1.0, 0.850, 0.03),
]
NEAR_ZERO = [  # a linear x axis whose margins, and a y error bar, would reach below 0
    ("fast", 0.2, 0.05, 0.1),
    ("slow", 2.0, 0.30, 0.05),
    ("middle", 1.0, 0.06, 0.1),
]


@pytest.mark.parametrize("points", [NEAR_TWINS, NEAR_ZERO], ids=["near-twins", "near-zero"])
def test_scatter_labels_do_not_overlap_and_axes_start_at_zero(points) -> None:
    figure = quality_latency_figure(_results(points))
    axes = figure.axes[0]
    renderer = FigureCanvasAgg(figure).get_renderer()
    boxes = [label.get_window_extent(renderer) for label in axes.texts]
    assert len(boxes) == len(points)
    for (i, first), (j, second) in combinations(enumerate(boxes), 2):
        assert not first.overlaps(second), f"{points[i][0]} and {points[j][0]} labels overlap"
    assert axes.get_xlim()[0] >= 0 and axes.get_ylim()[0] >= 0


def test_near_zero_points_keep_a_linear_axis_from_zero_and_twins_get_a_log_axis() -> None:
    linear = quality_latency_figure(_results(NEAR_ZERO)).axes[0]
    assert linear.get_xscale() == "linear" and linear.get_xlim()[0] == 0
    assert linear.get_ylim()[0] == 0
    logarithmic = quality_latency_figure(_results(NEAR_TWINS)).axes[0]
    assert logarithmic.get_xscale() == "log" and 0 < logarithmic.get_xlim()[0] < 1.0


def test_scatter_svg_is_still_saved_in_the_plot_style() -> None:
    svg = quality_latency_svg(_results(NEAR_TWINS))
    assert svg.startswith('<svg class="plot" data-plot="quality-latency"')
    assert "<text" not in svg and "<!--" not in svg  # text drawn as outlines, no comments
