"""The report's plots, each drawn from results.json with matplotlib and returned as inline SVG.

Text is drawn as glyph outlines (``svg.fonttype = "path"``) and mathtext is off, so a
candidate name or a label can never become markup or a formula inside a plot. Each candidate
keeps one colour across every plot. Nothing is computed here that results.json does not hold;
the plots only place its numbers.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter
from matplotlib.transforms import Bbox

from modelscout import metrics
from modelscout.report.matrix import find_metric, matrix_columns, results_quality

LATENCY_P95 = metrics.latency_p95(1)
LATENCY_P50 = metrics.latency_p50(1)
LATENCY_AXIS = f"p95 latency at batch 1 ({metrics.unit(LATENCY_P95)})"
MEMORY = metrics.PEAK_MEMORY
COST = metrics.COST_PER_1K
STYLE = {
    "svg.fonttype": "path",
    "svg.hashsalt": "modelscout",  # the same results give the same SVG, byte for byte
    "text.parse_math": False,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
}
PALETTE = matplotlib.colormaps["tab10"].colors
REJECTED = "#9a9a9a"


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):
        yield


def _short(text: str, width: int = 40) -> str:
    """Long ids (paths) keep their start and end: '/home/me/mo…/my-bert'."""
    if len(text) <= width:
        return text
    half = (width - 1) // 2
    return text[:half] + "…" + text[-half:]


def _value(candidate: dict[str, Any], name: str) -> float | None:
    found = find_metric(candidate, name)
    return None if found is None else found.get("value")


def _spread(candidate: dict[str, Any], name: str) -> float:
    found = find_metric(candidate, name)
    return (found or {}).get("spread") or 0.0


def candidate_colors(results: dict[str, Any]) -> dict[str, str]:
    """One colour per candidate id, in results order, shared by every plot."""
    return {
        c["id"]: matplotlib.colors.to_hex(PALETTE[i % len(PALETTE)])
        for i, c in enumerate(results["candidates"])
    }


def _label(candidate: dict[str, Any]) -> str:
    status = "" if candidate["status"] == "ranked" else f" ({candidate['status']})"
    return _short(candidate["id"]) + status


def _latency_budget(results: dict[str, Any]) -> float | None:
    return results.get("settings", {}).get("constraints", {}).get("max_latency_ms_p95")


def _log_x(axes: Any) -> None:
    """A log x axis labelled 1, 10, 100 (the default labels are mathtext, which is off)."""
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())


def _svg(figure: Figure, name: str) -> str:
    """The figure as an <svg> element whose ids are prefixed with ``name``.

    Several SVGs share one HTML document, so their ids (clip paths, glyphs) must not clash.
    The XML prolog, comments and metadata are dropped: they add bytes and nothing else.
    """
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    text = re.sub(r'\bid="', f'id="{name}-', text)
    text = re.sub(r'href="#', f'href="#{name}-', text)
    text = text.replace("url(#", f"url(#{name}-")
    return text.replace("<svg ", f'<svg class="plot" data-plot="{name}" ', 1)


# Where a point's label may go, tried in order: the side of the marker (right, then left and
# right-aligned) and the rise in points, one text line at a time up and down.
LABEL_PLACES = [
    (side, dy, align)
    for ring in range(8)
    for dy in (2 + 12 * ring, -10 - 12 * ring)
    for side, align in ((1, "left"), (-1, "right"))
]


def _place_labels(figure: Figure, axes: Any, labels: list[tuple[Any, float]]) -> None:
    """Move each label to the first offset where it overlaps no label placed before it.

    Greedy placement in pixel space, measured with the figure's own text extents: points with
    near-identical coordinates get their labels stacked instead of printed over each other. A
    place inside the axes is preferred; outside is used only when nothing inside is free.
    adjustText does this iteratively (and better for crowded plots), but a report has a handful
    of candidates, so a dozen lines beat a new dependency.
    """
    renderer = FigureCanvasAgg(figure).get_renderer()
    frame = axes.get_window_extent(renderer)
    placed: list[Bbox] = []
    for label, radius in labels:
        chosen = None
        for place in LABEL_PLACES:
            box = _move_label(label, radius, place, renderer)
            if any(box.overlaps(other) for other in placed):
                continue
            if _inside(box, frame):
                chosen = place
                break
            chosen = chosen or place
        placed.append(_move_label(label, radius, chosen or LABEL_PLACES[0], renderer))


def _move_label(label: Any, radius: float, place: tuple[int, float, str], renderer: Any) -> Bbox:
    """Put ``label`` beside its marker (``radius`` in points); its box in pixels, padded."""
    side, dy, align = place
    label.xyann = (side * (radius + 4), dy)
    label.set_horizontalalignment(align)
    return label.get_window_extent(renderer).padded(1)


def _inside(box: Bbox, frame: Bbox) -> bool:
    return frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


def _scatter_figure(
    results: dict[str, Any], x_name: str, x_label: str, pareto: bool
) -> Figure | None:
    """The run's quality metric (± fold std) against ``x_name``, marker area by peak memory."""
    quality = results_quality(results)
    points = [
        c
        for c in results["candidates"]
        if _value(c, quality) is not None and _value(c, x_name) is not None
    ]
    if not points:
        return None
    with _style():
        figure = Figure(figsize=(7.5, 4.2))
        axes = figure.add_subplot()
        labels = _scatter_points(axes, results, points, (x_name, quality), pareto)
        handles = _scatter_guides(axes, results, points, (x_name, quality), pareto)
        _scatter_axes(axes, points, (x_name, quality), x_label)
        if handles:
            axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
        _place_labels(figure, axes, labels)
        return figure


def _scatter_points(
    axes: Any,
    results: dict[str, Any],
    points: list[dict[str, Any]],
    names: tuple[str, str],
    pareto: bool,
) -> list[tuple[Any, float]]:
    """Draw each candidate's error bar, marker and label; each label with its marker's radius
    in points, for :func:`_place_labels`. ``names``: the x and y metrics."""
    x_name, quality = names
    colors = candidate_colors(results)
    memories = [max(_value(c, MEMORY) or 0.0, 0.0) for c in points]
    largest = max(memories) or 1.0
    labels = []
    for candidate, memory in zip(points, memories, strict=True):
        x, y = _value(candidate, x_name), _value(candidate, quality)
        ranked = candidate["status"] == "ranked"
        color = colors[candidate["id"]]
        axes.errorbar(x, y, yerr=_spread(candidate, quality), color=REJECTED, capsize=3, zorder=2)
        area = 30 + 570 * memory / largest  # points², the marker's bounding square
        axes.scatter(
            x,
            y,
            s=area,
            facecolor=color if ranked else "white",
            edgecolor="black" if pareto and candidate["id"] in results["pareto"] else color,
            linewidth=1.6,
            alpha=0.85,
            zorder=3,
        )
        memory_text = (
            f"  {memory:.3g} {metrics.unit(MEMORY)}"
            if _value(candidate, MEMORY) is not None
            else ""
        )
        label = axes.annotate(
            _label(candidate) + memory_text,
            (x, y),
            xytext=(0, 0),  # _place_labels moves it beside the marker
            textcoords="offset points",
            fontsize=8,
            color="#333333",
        )
        labels.append((label, math.sqrt(area) / 2))
    return labels


def _scatter_guides(
    axes: Any,
    results: dict[str, Any],
    points: list[dict[str, Any]],
    names: tuple[str, str],
    pareto: bool,
) -> list[Line2D]:
    """Draw the Pareto line and the latency budget where they apply; the legend's handles for
    them, and for hollow (not ranked) markers when there are any."""
    x_name, quality = names
    handles = []
    front = sorted(
        (c for c in points if c["id"] in results["pareto"]), key=lambda c: _value(c, x_name)
    )
    if pareto and front:
        axes.plot(
            [_value(c, x_name) for c in front],
            [_value(c, quality) for c in front],
            linestyle="--",
            color="black",
            linewidth=1,
            zorder=1,
        )
        handles.append(
            Line2D([], [], linestyle="--", color="black", label="Pareto set (ranked only)")
        )
    budget = _latency_budget(results)
    if x_name == LATENCY_P95 and budget is not None:
        axes.axvline(budget, color="#c0392b", linestyle=":", linewidth=1.2)
        handles.append(Line2D([], [], linestyle=":", color="#c0392b", label="latency budget"))
    if any(c["status"] != "ranked" for c in points):
        hollow = {"marker": "o", "linestyle": "", "markerfacecolor": "white"}
        handles.append(Line2D([], [], color="#555555", label="not ranked", **hollow))
    return handles


def _scatter_axes(
    axes: Any, points: list[dict[str, Any]], names: tuple[str, str], x_label: str
) -> None:
    """The scatter's axis labels and limits: a log x axis when the points span over 10x."""
    x_name, quality = names
    xs = [_value(c, x_name) for c in points]
    if min(xs) > 0 and max(xs) / min(xs) > 10:
        _log_x(axes)
        x_label += ", log scale"
    axes.set_xlabel(x_label)
    axes.set_ylabel(quality_axis(quality))
    axes.margins(x=0.25, y=0.15)
    _no_negative_limits(axes, metrics.unit(quality) in NEVER_NEGATIVE)


# Units whose figures are never negative (R² and Spearman's rho can be).
NEVER_NEGATIVE = ("fraction", metrics.TARGET_UNITS)


def quality_axis(quality: str) -> str:
    """'macro-F1 (fraction), ± std over folds'; 'MAE (target units), lower is better, ± …'."""
    found = metrics.spec(quality)
    text = found.label if found.unit in found.label else f"{found.label} ({found.unit})"
    if found.direction == "lower":
        text += ", lower is better"
    return text + ", ± std over folds"


def _no_negative_limits(axes: Any, y_too: bool = True) -> None:
    """Latency, cost, macro-F1 and MAE are never negative, so those axes never run below zero.

    The margins around the points would otherwise reach below zero; a log axis keeps its own
    positive lower limit. ``y_too`` False: the y metric can be negative (R², Spearman).
    """
    axes.autoscale_view()
    if axes.get_xscale() == "linear":
        axes.set_xlim(left=max(axes.get_xlim()[0], 0.0))
    if y_too:
        axes.set_ylim(bottom=max(axes.get_ylim()[0], 0.0))


def quality_latency_figure(results: dict[str, Any]) -> Figure | None:
    """The figure behind quality_latency_svg, for callers that measure it; None if no point."""
    return _scatter_figure(results, LATENCY_P95, LATENCY_AXIS, pareto=True)


def _scatter_against(
    results: dict[str, Any], x_name: str, x_label: str, name: str, pareto: bool
) -> str | None:
    """The scatter as SVG, saved in the plots' style (it sets the SVG text and id options)."""
    figure = _scatter_figure(results, x_name, x_label, pareto)
    if figure is None:
        return None
    with _style():
        return _svg(figure, name)


def quality_latency_svg(results: dict[str, Any]) -> str | None:
    """The run's quality metric against p95 latency with the Pareto set joined; None if
    nothing has both."""
    return _scatter_against(results, LATENCY_P95, LATENCY_AXIS, "quality-latency", pareto=True)


def quality_cost_svg(results: dict[str, Any]) -> str | None:
    """The run's quality metric against $ per 1k predictions; None while no candidate has
    that measurement."""
    unit = metrics.unit(COST)
    return _scatter_against(
        results, COST, f"cost per 1k predictions ({unit})", "quality-cost", pareto=False
    )


def _legend(figure: Figure, candidates: list[dict[str, Any]], colors: dict[str, str]) -> None:
    handles = [
        Line2D([], [], marker="s", linestyle="", color=colors[c["id"]], label=_label(c))
        for c in candidates
    ]
    figure.legend(handles=handles, loc="upper center", ncols=min(3, len(handles)), fontsize=8)


def criterion_bars_svg(results: dict[str, Any]) -> str | None:
    """One panel per measured matrix column: a bar per candidate, error bar = spread."""
    panels = [
        (header, name, fmt)
        for header, name, fmt in matrix_columns(results)
        if any(_value(c, name) is not None for c in results["candidates"])
    ]
    if not panels:
        return None
    candidates = results["candidates"]
    colors = candidate_colors(results)
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    with _style():
        figure = Figure(figsize=(9, 0.6 + rows * (0.5 + 0.28 * len(candidates))))
        figure.subplots_adjust(hspace=0.9, wspace=0.25, top=1 - 0.7 / figure.get_figheight())
        for index, (header, name, fmt) in enumerate(panels):
            axes = figure.add_subplot(rows, columns, index + 1)
            present = [c for c in candidates if _value(c, name) is not None]
            positions = list(range(len(present)))[::-1]
            values = [_value(c, name) for c in present]
            axes.barh(
                positions,
                values,
                xerr=[_spread(c, name) for c in present],
                color=[colors[c["id"]] for c in present],
                capsize=3,
                height=0.7,
            )
            for position, value in zip(positions, values, strict=True):
                axes.annotate(
                    fmt.format(value),
                    (value, position),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=7,
                )
            unit = metrics.unit(name)
            axes.set_title(header if unit in header else f"{header} ({unit})", fontsize=9)
            axes.set_yticks([])
            axes.margins(x=0.3)
            axes.grid(axis="y", visible=False)
        _legend(figure, candidates, colors)
        return _svg(figure, "criteria")


def latency_distribution_svg(results: dict[str, Any]) -> str | None:
    """A box per candidate over every timed run at batch 1; None if no run was kept."""
    timed = [
        c
        for c in results["candidates"]
        if (find_metric(c, LATENCY_P50) or {}).get("detail", {}).get("samples_ms")
    ]
    if not timed:
        return None
    colors = candidate_colors(results)
    samples = [find_metric(c, LATENCY_P50)["detail"]["samples_ms"] for c in timed]
    with _style():
        figure = Figure(figsize=(7.5, 0.9 + 0.45 * len(timed)))
        axes = figure.add_subplot()
        boxes = axes.boxplot(
            samples[::-1],
            orientation="horizontal",
            tick_labels=[_label(c) for c in timed][::-1],
            patch_artist=True,
            widths=0.6,
            flierprops={"markersize": 3, "markeredgecolor": "#666666"},
            medianprops={"color": "black"},
        )
        for patch, candidate in zip(boxes["boxes"], timed[::-1], strict=True):
            patch.set_facecolor(colors[candidate["id"]])
            patch.set_alpha(0.75)
        budget = _latency_budget(results)
        if budget is not None:
            axes.axvline(budget, color="#c0392b", linestyle=":", linewidth=1.2)
            axes.annotate(
                "p95 budget",
                (budget, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3, -10),
                textcoords="offset points",
                color="#c0392b",
                fontsize=8,
            )
        flat = [x for runs in samples for x in runs if x > 0]
        label = "latency of one input at batch 1 (ms)"
        if flat and max(flat) / min(flat) > 10:
            _log_x(axes)
            label += ", log scale"
        axes.set_xlabel(label)
        axes.grid(axis="y", visible=False)
        return _svg(figure, "latency")


def _recommended(results: dict[str, Any]) -> dict[str, Any] | None:
    pick = results.get("recommendation")
    return next((c for c in results["candidates"] if c["id"] == pick), None)


def _points(candidate: dict[str, Any]) -> dict[str, list[float]]:
    """A regression candidate's sampled (true, predicted) pairs ({} when none)."""
    residuals = find_metric(candidate, metrics.RESIDUALS) or {}
    return (residuals.get("detail") or {}).get("points") or {}


def _best_baseline(results: dict[str, Any]) -> dict[str, Any] | None:
    """The baseline with points that scores best on the run's quality metric, if any."""
    quality = results_quality(results)
    sign = 1 if metrics.spec(quality).higher_is_better else -1
    scored = [
        c
        for c in results["candidates"]
        if c.get("source") == "baseline" and _points(c) and _value(c, quality) is not None
    ]
    return max(scored, key=lambda c: sign * _value(c, quality), default=None)


def predicted_true_svg(results: dict[str, Any]) -> str | None:
    """Regression: predicted against true target of the recommended candidate and the best
    baseline (their out-of-fold ``points``), with the line y = x; log axes when the probe was
    fitted on log(target). None when neither has points."""
    shown = [c for c in (_recommended(results), _best_baseline(results)) if c and _points(c)]
    shown = list({c["id"]: c for c in shown}.values())  # the pick may be the best baseline
    if not shown:
        return None
    colors = candidate_colors(results)
    log = ((results.get("data") or {}).get("target") or {}).get("transform") == "log"
    with _style():
        figure = Figure(figsize=(5.5, 5.0))
        axes = figure.add_subplot()
        values = []
        for candidate in shown:
            points = _points(candidate)
            values += points["true"] + points["predicted"]
            axes.scatter(
                points["true"],
                points["predicted"],
                s=10,
                alpha=0.5,
                color=colors[candidate["id"]],
                label=_label(candidate),
                linewidth=0,
            )
        finite = [v for v in values if v > 0] if log else values
        low, high = min(finite), max(finite)
        axes.plot([low, high], [low, high], color="black", linewidth=1, linestyle="--")
        _target_axes(axes, log)
        axes.legend(loc="upper left", fontsize=8, markerscale=2)
        return _svg(figure, "predicted-true")


def _target_axes(axes: Any, log: bool) -> None:
    """Both axes in the target's units; log scales (labelled 1, 10, 100) when ``log``."""
    suffix = ", log scale" if log else ""
    if log:
        for axis, scale in ((axes.xaxis, axes.set_xscale), (axes.yaxis, axes.set_yscale)):
            scale("log")
            axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(f"true ({metrics.TARGET_UNITS}{suffix})")
    axes.set_ylabel(f"predicted ({metrics.TARGET_UNITS}{suffix})")


def label_f1_svg(results: dict[str, Any]) -> str | None:
    """Multi-label: the recommended candidate's F1 per label, labels by support (largest
    first), decide's long-tail labels hatched. None without per-label scores."""
    pick = _recommended(results)
    breakdown = ((find_metric(pick, metrics.BREAKDOWN) or {}) if pick else {}).get("detail") or {}
    f1 = breakdown.get("per_class_f1") or {}
    if not f1:
        return None
    support = {c["name"]: c["rows"] for c in (results.get("data") or {}).get("classes") or []}
    support = {**(breakdown.get("support") or {}), **support}
    names = sorted(f1, key=lambda name: (-(support.get(name) or 0), name))
    tail = set((results.get("long_tail") or {}).get("classes") or [])
    color = candidate_colors(results)[pick["id"]]
    with _style():
        figure = Figure(figsize=(7.5, 0.8 + 0.22 * len(names)))
        axes = figure.add_subplot()
        positions = list(range(len(names)))[::-1]
        bars = axes.barh(positions, [f1[n] for n in names], color=color, height=0.7)
        for bar, name, position in zip(bars, names, positions, strict=True):
            if name in tail:
                bar.set_hatch("///")
                bar.set_alpha(0.6)
            axes.annotate(
                f"{f1[name]:.2f}  ({support.get(name, '?')} rows)",
                (f1[name], position),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        axes.set_yticks(positions, [_short(n, 30) + (" *" if n in tail else "") for n in names])
        axes.set_xlim(0, 1.25)  # room for the support beside a bar at F1 = 1
        axes.set_xlabel(f"F1 per label ({metrics.unit(metrics.BREAKDOWN)}); * long tail")
        axes.set_title(_label(pick), fontsize=9)
        axes.grid(axis="y", visible=False)
        return _svg(figure, "label-f1")


def reliability_svg(results: dict[str, Any]) -> str | None:
    """Classification: the recommended candidate's reliability diagram (Guo et al. 2017,
    figure 1): per confidence bin its accuracy as a bar, the bin's mean confidence as a
    marker, the diagonal of perfect calibration, each bar's row count above it. None when
    the pick has no reliability bins (no ECE: its probe gave no probabilities)."""
    pick = _recommended(results)
    ece = (find_metric(pick, metrics.ECE) or {}) if pick else {}
    bins = ece.get("detail") or {}
    if ece.get("value") is None or not bins.get("count"):
        return None
    with _style():
        figure = Figure(figsize=(5.5, 4.6))
        axes = figure.add_subplot()
        _reliability_bars(axes, bins, candidate_colors(results)[pick["id"]])
        axes.plot(
            [0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="perfect calibration"
        )
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.08)  # room for the counts above a bar at accuracy 1
        axes.set_xlabel("confidence: probability of the predicted class (fraction)")
        axes.set_ylabel("accuracy (fraction); rows above each bar")
        shown = metrics.spec(metrics.ECE).show(ece["value"])
        axes.set_title(f"{_label(pick)}, {metrics.label(metrics.ECE)} {shown}", fontsize=9)
        axes.legend(loc="upper left", fontsize=8)
        return _svg(figure, "reliability")


def _reliability_bars(axes: Any, bins: dict[str, Any], color: str) -> None:
    """Each non-empty bin's accuracy as a bar over the bin, its row count above the bar, and
    its mean confidence as a marker at the bar's height (``calibration.reliability`` bins)."""
    edges, counts = bins["edges"], bins["count"]
    filled = [i for i, n in enumerate(counts) if n]
    accuracy = [bins["accuracy"][i] for i in filled]
    bars = axes.bar(
        [edges[i] for i in filled],
        accuracy,
        width=[edges[i + 1] - edges[i] for i in filled],
        align="edge",
        color=color,
        alpha=0.75,
        edgecolor="white",
        label="accuracy in the bin",
    )
    axes.scatter(
        [bins["confidence"][i] for i in filled],
        accuracy,
        s=12,
        color="black",
        zorder=3,
        label="mean confidence in the bin",
    )
    for bar, i in zip(bars, filled, strict=True):
        axes.annotate(
            f"{counts[i]}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            fontsize=6,
        )


def _curve(candidate: dict[str, Any], quality: str) -> dict[str, Any] | None:
    """The learning-curve detail of a candidate's ``predicted.<quality>``, when it has points."""
    found = find_metric(candidate, metrics.predicted(quality)) or {}
    detail = found.get("detail") or {}
    return detail if detail.get("points") else None


def _fitted_line(detail: dict[str, Any], higher: bool, until: float) -> tuple[Any, Any] | None:
    """(rows, scores) of the fitted law from the smallest point to ``until`` (measure/curve.py)."""
    params = detail.get("params")
    if not params:
        return None
    rows = np.geomspace(detail["points"][0]["rows"], until, 60)
    error = params["a"] + params["b"] * (rows / params["n_max"]) ** -params["c"]
    return rows, (1 - error if higher else error)


def learning_curves_svg(results: dict[str, Any]) -> str | None:
    """Quality against training rows (log axis) per candidate: the mean of the folds at each
    nested fraction with its fold spread, the fitted curve extended to the predicted row count,
    and the prediction with its interval. None when no candidate has a curve."""
    quality = results_quality(results)
    shown = [(c, d) for c in results["candidates"] if (d := _curve(c, quality)) is not None]
    if not shown:
        return None
    colors = candidate_colors(results)
    higher = metrics.spec(quality).higher_is_better
    with _style():
        figure = Figure(figsize=(7.0, 4.2))
        axes = figure.add_subplot()
        for candidate, detail in shown:
            color = colors[candidate["id"]]
            points = [p for p in detail["points"] if p["mean"] is not None]
            spreads = [float(np.nanstd([s for s in p["scores"] if s is not None])) for p in points]
            axes.errorbar(
                [p["rows"] for p in points],
                [p["mean"] for p in points],
                yerr=spreads,
                fmt="o",
                color=color,
                markersize=4,
                capsize=2,
                label=_label(candidate),
            )
            target = detail.get("rows") or points[-1]["rows"]
            line = _fitted_line(detail, higher, max(target, points[-1]["rows"]))
            if line is not None:
                axes.plot(*line, color=color, linewidth=1.2, linestyle="--")
                low, high = detail["low"], detail["high"]
                value = _value(candidate, metrics.predicted(quality))
                axes.errorbar(
                    [target],
                    [value],
                    yerr=[[value - low], [high - value]],
                    fmt="D",
                    color=color,
                    markersize=5,
                    capsize=3,
                )
        _log_x(axes)
        axes.set_xlabel("training rows (log scale); diamonds: expected at the data's rows")
        axes.set_ylabel(quality_axis(quality))
        axes.legend(loc="best", fontsize=8)
        return _svg(figure, "learning-curves")
