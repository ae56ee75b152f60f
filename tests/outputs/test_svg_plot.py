"""transforms/outputs/svg_plot.py: the chart pieces of report.html, checked on hand-worked coordinates and
parsed as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from transforms.outputs.svg_plot import Panel, compute_nice_range, compute_path, draw_bars, draw_lines, svg_document


def test_a_path_breaks_where_a_value_is_missing_and_starts_each_series_anew():
    x = np.array([0.0, 1.0, 2.0])
    y = np.array([[1.0, 5.0], [np.nan, 6.0], [3.0, np.nan]])  # two series, a column each
    assert compute_path(x, y) == "M0.0,1.0 M2.0,3.0 M0.0,5.0 L1.0,6.0"


def test_nice_ranges_are_round_and_cover_every_value():
    assert compute_nice_range(np.array([0.3, 9.2]))[:2] == (0.0, 10.0)
    low, high, ticks = compute_nice_range(np.array([131.0, 147.0, np.nan]))
    assert (low, high) == (130.0, 150.0) and ticks.tolist() == [130.0, 135.0, 140.0, 145.0, 150.0]
    # one value: a unit around it (6.5..7.5), widened to the ticks of 0.2
    assert compute_nice_range(np.array([7.0]))[:2] == (6.4, 7.6)
    assert compute_nice_range(np.array([]))[:2] == (0.0, 1.0)


def test_data_maps_onto_the_panel_with_y_upwards():
    panel = Panel(left=10, top=20, width=100, height=50, x_range=(0, 10), y_range=(0, 5))
    assert panel.x([0, 10]).tolist() == [10.0, 110.0]
    assert panel.y([0, 5]).tolist() == [70.0, 20.0]
    # a bar from 0 to 2.5 at x=5, 2 wide: x 4..6 -> 40..60 px from the left edge at 10
    (rect,) = ET.fromstring(f"<g>{draw_bars(panel, [5.0], [0.0], [2.5], 2.0, '#000')}</g>")
    assert {k: float(rect.get(k)) for k in ("x", "y", "width", "height")} == {
        "x": 50.0, "y": 45.0, "width": 20.0, "height": 25.0,
    }


def test_a_document_is_well_formed_svg_and_the_same_text_every_time():
    panel = Panel(0, 0, 10, 10, (0, 1), (0, 1))
    first = svg_document(10, 10, [draw_lines(panel, [0, 1], np.array([0.0, 1.0]), "#123456")], "a < b")
    root = ET.fromstring(first)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}title").text == "a < b"
    assert root.find("{http://www.w3.org/2000/svg}path").get("d") == "M0.0,10.0 L10.0,0.0"
    assert svg_document(10, 10, [draw_lines(panel, [0, 1], np.array([0.0, 1.0]), "#123456")], "a < b") == first
