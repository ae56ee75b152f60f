"""svg_plot: the few chart pieces report.html draws, as inline SVG text.

Why not matplotlib: report.html is written on every run, and rendering its fifteen PNGs with Agg
took longer than every SDTM stage of the sample run together (seconds of anti-aliased raster
work for charts a browser draws itself from a few kilobytes of vector text). SVG text is built
with numpy string operations, so its cost grows with the points drawn, not with pixels, and it is
the same bytes on every machine: no fonts are measured, coordinates are printed at 0.1 px.

A `Panel` is one set of axes: a rectangle on the page and the data ranges it maps onto it. The
`draw_*` functions return SVG elements (text) in page coordinates; `svg_document` wraps them.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
GREY = "#555555"
FONT = 'font-family="DejaVu Sans,Verdana,sans-serif"'
CHAR_WIDTH = 6.2  # px per character at 11 px: labels are sized from their length, never measured


def colour_of(number: int) -> str:
    return COLOURS[number % len(COLOURS)]


@dataclass(frozen=True)
class Panel:
    """Axes at (left, top) of `width` × `height` px showing x in `x_range`, y in `y_range`."""

    left: float
    top: float
    width: float
    height: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def x(self, values) -> np.ndarray:
        low, high = self.x_range
        return self.left + (np.asarray(values, dtype="float64") - low) / (high - low) * self.width

    def y(self, values) -> np.ndarray:
        low, high = self.y_range
        return self.top + self.height - (np.asarray(values, dtype="float64") - low) / (high - low) * self.height


def compute_nice_range(values: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(low, high, ticks) covering every finite value with about five round ticks (1, 2, 2.5, 5
    × a power of ten); a single value or none gets a unit-wide range around it."""
    finite = np.asarray(values, dtype="float64")
    finite = finite[np.isfinite(finite)]
    low, high = (0.0, 1.0) if finite.size == 0 else (float(finite.min()), float(finite.max()))
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    raw = (high - low) / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    ticks = np.round(np.arange(first, last + 1) * step, 12)  # 38 * 0.2 is 7.6, not 7.6000000000000005
    return float(ticks[0]), float(ticks[-1]), ticks


def svg_document(width: float, height: float, elements: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" {FONT} font-size="11">'
        f"<title>{html.escape(title)}</title>" + "".join(elements) + "</svg>"
    )


def _numbers(values: np.ndarray) -> np.ndarray:
    return np.char.mod("%.1f", np.asarray(values, dtype="float64"))


def compute_path(x: np.ndarray, y: np.ndarray) -> str:
    """An SVG path's `d` drawing each column of `y` (points × series) against `x` (points) as one
    line, broken where a value is missing: one path for any number of series."""
    y = np.asarray(y, dtype="float64")
    if y.ndim == 1:
        y = y[:, None]
    xs = np.broadcast_to(np.asarray(x, dtype="float64")[:, None], y.shape)
    valid = np.isfinite(y)
    previous = np.vstack([np.zeros((1, y.shape[1]), dtype=bool), valid[:-1]])
    # column-major: one series after the other, each starting a new line
    order = valid.T.ravel()
    command = np.where(previous.T.ravel(), "L", "M")[order]
    points = np.char.add(np.char.add(_numbers(xs.T.ravel()[order]), ","), _numbers(y.T.ravel()[order]))
    return " ".join(np.char.add(command, points).tolist())


def draw_lines(panel: Panel, x, y, colour: str, width: float = 1.0, opacity: float = 1.0,
               dash: str | None = None) -> str:
    d = compute_path(panel.x(x), panel.y(y))
    if not d:
        return ""
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}" '
            f'stroke-opacity="{opacity}"{dashed}/>')


def draw_markers(panel: Panel, x, y, colour: str, radius: float = 2.0) -> str:
    x, y = panel.x(x), panel.y(y)
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.any():
        return ""
    circles = np.char.add(np.char.add(np.char.add('<circle cx="', _numbers(x[keep])), '" cy="'), _numbers(y[keep]))
    return "".join(np.char.add(circles, f'" r="{radius}" fill="{colour}"/>').tolist())


def draw_band(panel: Panel, x, low, high, colour: str, opacity: float = 0.2) -> str:
    """The area between `low` and `high` over `x` (one polygon; x in increasing order)."""
    x, low, high = (np.asarray(v, dtype="float64") for v in (x, low, high))
    keep = np.isfinite(low) & np.isfinite(high)
    if not keep.any():
        return ""
    xs = np.concatenate([x[keep], x[keep][::-1]])
    ys = np.concatenate([high[keep], low[keep][::-1]])
    points = np.char.add(np.char.add(_numbers(panel.x(xs)), ","), _numbers(panel.y(ys)))
    return f'<polygon points="{" ".join(points.tolist())}" fill="{colour}" fill-opacity="{opacity}" stroke="none"/>'


def draw_error_bars(panel: Panel, x, middle, low, high, colour: str) -> str:
    """A marker at `middle` with a vertical bar from `low` to `high` and caps, per x."""
    x, middle, low, high = (np.asarray(v, dtype="float64") for v in (x, middle, low, high))
    keep = np.isfinite(middle)
    px, lo, hi = panel.x(x[keep]), panel.y(low[keep]), panel.y(high[keep])
    bars = np.isfinite(lo) & np.isfinite(hi)
    path = ""
    if bars.any():
        x_mid, x_left, x_right = _numbers(px[bars]), _numbers(px[bars] - 2), _numbers(px[bars] + 2)
        y_low, y_high = _numbers(lo[bars]), _numbers(hi[bars])
        # each bar: the vertical stroke, then the cap at each end
        pieces = [
            "M", x_mid, ",", y_low, " L", x_mid, ",", y_high,
            " M", x_left, ",", y_low, " L", x_right, ",", y_low,
            " M", x_left, ",", y_high, " L", x_right, ",", y_high,
        ]
        d = pieces[0]
        for piece in pieces[1:]:
            d = np.char.add(d, piece)
        path = f'<path d="{" ".join(d.tolist())}" fill="none" stroke="{colour}" stroke-width="1.2"/>'
    return path + draw_markers(panel, x[keep], middle[keep], colour, 2.5)


def draw_horizontal(panel: Panel, level: float, colour: str = GREY, dash: str | None = None) -> str:
    y = float(panel.y([level])[0])
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{panel.left:.1f}" y1="{y:.1f}" x2="{panel.left + panel.width:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="0.8"{dashed}/>')


def draw_bars(panel: Panel, x, bottom, top, width: float, colour: str, horizontal: bool = False) -> str:
    """Bars from `bottom` to `top` centred on `x` (data units, `width` wide); `horizontal`: x is
    the category axis drawn upwards, bars grow to the right."""
    x, bottom, top = (np.asarray(v, dtype="float64") for v in (x, bottom, top))
    keep = np.isfinite(top) & (top != bottom)
    if not keep.any():
        return ""
    x, bottom, top = x[keep], bottom[keep], top[keep]
    if horizontal:
        left, right = panel.x(bottom), panel.x(top)
        upper, lower = panel.y(x + width / 2), panel.y(x - width / 2)
    else:
        left, right = panel.x(x - width / 2), panel.x(x + width / 2)
        upper, lower = panel.y(top), panel.y(bottom)
    rects = np.char.add(np.char.add(np.char.add(np.char.add(
        '<rect x="', _numbers(np.minimum(left, right))), '" y="'), _numbers(np.minimum(upper, lower))), '" width="')
    rects = np.char.add(np.char.add(np.char.add(rects, _numbers(np.abs(right - left))), '" height="'),
                        _numbers(np.abs(lower - upper)))
    return "".join(np.char.add(rects, f'" fill="{colour}"/>').tolist())


def draw_frame(panel: Panel, y_ticks: np.ndarray, y_label: str, title: str,
               x_labels: list[str] | None = None, x_ticks: np.ndarray | None = None,
               rotate: bool = True) -> str:
    """The panel's box, grid lines and labels at `y_ticks`, its title, the y label, and the
    category labels at `x_ticks` (0, 1, ... when not given; rotated 45° when `rotate`)."""
    right, bottom = panel.left + panel.width, panel.top + panel.height
    parts = [f'<rect x="{panel.left:.1f}" y="{panel.top:.1f}" width="{panel.width:.1f}" '
             f'height="{panel.height:.1f}" fill="none" stroke="#333333" stroke-width="0.8"/>']
    ys = panel.y(y_ticks)
    inside = (ys >= panel.top - 0.05) & (ys <= bottom + 0.05)
    for y, tick in zip(ys[inside], np.asarray(y_ticks)[inside]):
        parts.append(f'<line x1="{panel.left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" '
                     'stroke="#000000" stroke-opacity="0.12" stroke-width="0.8"/>')
        parts.append(f'<text x="{panel.left - 4:.1f}" y="{y + 3.5:.1f}" text-anchor="end">{_tick(tick)}</text>')
    if x_labels is not None:
        positions = np.arange(len(x_labels)) if x_ticks is None else np.asarray(x_ticks)
        for x, label in zip(panel.x(positions), x_labels):
            text = html.escape(str(label))
            if rotate:
                parts.append(f'<text x="{x:.1f}" y="{bottom + 12:.1f}" font-size="9" text-anchor="end" '
                             f'transform="rotate(-45 {x:.1f} {bottom + 12:.1f})">{text}</text>')
            else:
                parts.append(f'<text x="{x:.1f}" y="{bottom + 13:.1f}" text-anchor="middle">{text}</text>')
    middle = panel.top + panel.height / 2
    parts.append(f'<text x="{panel.left - 38:.1f}" y="{middle:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 {panel.left - 38:.1f} {middle:.1f})">{html.escape(y_label)}</text>')
    parts.append(f'<text x="{panel.left + panel.width / 2:.1f}" y="{panel.top - 7:.1f}" text-anchor="middle" '
                 f'font-size="12">{html.escape(title)}</text>')
    return "".join(parts)


def draw_category_labels(panel: Panel, labels: list[str]) -> str:
    """Labels of a horizontal bar chart's categories, right-aligned left of the panel, bottom up."""
    ys = panel.y(np.arange(len(labels)))
    return "".join(f'<text x="{panel.left - 4:.1f}" y="{y + 3.5:.1f}" text-anchor="end">{html.escape(str(t))}</text>'
                   for y, t in zip(ys, labels))


def draw_legend(left: float, top: float, entries: list[tuple[str, str]]) -> str:
    """Coloured squares with their labels, one per line, from (left, top)."""
    parts = []
    for number, (colour, label) in enumerate(entries):
        y = top + 14 * number
        parts.append(f'<rect x="{left:.1f}" y="{y:.1f}" width="9" height="9" fill="{colour}"/>'
                     f'<text x="{left + 13:.1f}" y="{y + 8:.1f}" font-size="10">{html.escape(label)}</text>')
    return "".join(parts)


def compute_text_width(labels) -> float:
    return CHAR_WIDTH * max((len(str(t)) for t in labels), default=0)


def _tick(value: float) -> str:
    return "%g" % (0.0 if abs(value) < 1e-12 else value)
