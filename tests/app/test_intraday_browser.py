"""The Intraday page in headless Chromium: it loads, the day chart renders with its stacked panels,
and hovering shows the unified crosshair across them."""

from __future__ import annotations

import pytest

from tests.app.browser import chromium

pytestmark = pytest.mark.browser


def test_intraday_page_renders_the_day_chart(dashboard, tmp_path):
    from playwright.sync_api import Error as PlaywrightError

    with chromium(tmp_path, height=1400) as context:
        page = context.new_page()
        page.goto(f"{dashboard}/intraday", wait_until="domcontentloaded")
        page.get_by_role("heading", name="Intraday").wait_for(timeout=60_000)
        page.get_by_text("stored snapshot(s)", exact=False).first.wait_for(timeout=90_000)
        # one x axis, seven stacked panels (+ the spot overlay of the PCR panel)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.js-plotly-plot')].some(gd => gd.offsetParent &&"
            " gd.data && gd.data.length >= 10 &&"
            " Object.keys(gd._fullLayout).filter(k => /^yaxis\\d*$/.test(k)).length >= 7)",
            timeout=60_000,
        )
        assert page.get_by_text("NSE disseminates OI about every 3 minutes", exact=False).count() > 0
        # The fragment re-renders every few seconds (a Plotly chart whose data changed is mounted
        # afresh), and Streamlit keeps the chart's root at visibility:hidden while its SVG shows:
        # locate the day chart in the page itself on each try, then hover its spot panel.
        find = (
            "() => { const g = [...document.querySelectorAll('.js-plotly-plot')].find("
            "g => g.offsetParent && g.getBoundingClientRect().height > 1000);"
            " if (!g) return null; g.scrollIntoView(); const r = g.getBoundingClientRect();"
            " return [r.x, r.y, r.width, r.height]; }"
        )
        for _ in range(10):
            rect = page.evaluate(find)
            if rect is None:
                page.wait_for_timeout(1_000)
                continue
            page.mouse.move(rect[0] + rect[2] * 0.6, rect[1] + 150)
            try:
                page.wait_for_function(
                    "() => document.querySelectorAll('.js-plotly-plot .hoverlayer *').length > 0",
                    timeout=5_000,
                )
                break
            except PlaywrightError:  # re-rendered under the cursor: try again
                continue
        else:
            raise AssertionError("hovering the day chart never showed the unified hover")
        page.screenshot(path=str(tmp_path / "intraday.png"), full_page=True)
    assert (tmp_path / "intraday.png").stat().st_size > 10_000
