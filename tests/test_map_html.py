"""The animated map as one self-contained HTML page: ``python -m alcore html RUN --out map.html`` and the Export page's
download (``alcore.export.run_map_html``). That it plays offline in a real browser is checked in test_browser.py."""
from __future__ import annotations

import json
import re

import pytest

from alcore.cli import main
from alcore.loop import Experiment
from alcore.store import RunStore


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from conftest import make_digits_config

    run_dir = tmp_path_factory.mktemp("html") / "run"
    Experiment(make_digits_config(cycles=2), run_dir=run_dir).run()
    return run_dir


def _figure(page: str) -> dict:
    """The figure the page hands to plotly: ``Plotly.newPlot(id, data, layout, config)`` and
    ``addFrames(id, frames)``."""
    decoder = json.JSONDecoder()

    def arguments(call: str, n: int) -> list:
        """The ``n`` JSON arguments after the call's first one (the div's id, in either kind of quotes)."""
        rest = page[page.index(call) + len(call):]
        at = re.compile(r"\s*(['\"])[^'\"]*\1").match(rest).end()
        values = []
        for _ in range(n):
            at = re.compile(r"\s*,\s*").match(rest, at).end()
            value, at = decoder.raw_decode(rest, at)
            values.append(value)
        return values

    data, layout = arguments("Plotly.newPlot(", 2)
    (frames,) = arguments("Plotly.addFrames(", 1)
    return {"data": data, "layout": layout, "frames": frames}


def test_the_page_carries_plotly_inline_and_loads_nothing_from_another_host(digits_run, tmp_path, capsys):
    out = tmp_path / "map.html"
    assert main(["html", str(digits_run), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert page.lower().startswith("<!doctype html>") and "<title>" in page
    assert not re.search(r"<script[^>]*\bsrc=", page), "no script fetched from anywhere: plotly.js is inlined"
    assert not re.search(r"<link[^>]*\bhref=", page), "no stylesheet or font fetched either"
    assert "plotly.js v" in page[:10_000], "plotly.js is inside the page"
    assert "Plotly.animate(" not in page, "it opens on cycle 0 and waits for ▶ (no autoplay)"


def test_the_page_has_one_titled_frame_per_cycle_a_play_button_and_a_slider(digits_run, tmp_path):
    out = tmp_path / "map.html"
    assert main(["html", str(digits_run), "--out", str(out), "--color-by", "utility"]) == 0
    figure = _figure(out.read_text(encoding="utf-8"))
    n = RunStore(digits_run).n_cycles()
    assert [f["name"] for f in figure["frames"]] == [str(c) for c in range(n)]
    titles = [f["data"][2]["text"][0] for f in figure["frames"]]
    assert all(f"cycle {c} ·" in t for c, t in enumerate(titles)) and "final evaluation" in titles[-1]
    buttons = [b["label"] for b in figure["layout"]["updatemenus"][0]["buttons"]]
    assert any("play" in b for b in buttons) and any("pause" in b for b in buttons)
    assert [s["label"] for s in figure["layout"]["sliders"][0]["steps"]] == [str(c) for c in range(n)]


def test_an_unknown_run_is_a_one_line_error(tmp_path, capsys):
    assert main(["html", str(tmp_path / "nothing"), "--out", str(tmp_path / "map.html")]) == 2
    assert capsys.readouterr().err.startswith("error: no run at")
    assert not (tmp_path / "map.html").exists()
