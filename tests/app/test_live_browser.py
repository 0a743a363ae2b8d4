"""Live charts in Chromium (issue 13, defect 9): only a browser shows a blank frame. Over several
refreshes of the live panel no chart is removed from the page and drawn afresh, every chart has
drawn, and nothing logs an auto-margin redraw loop."""

from __future__ import annotations

import pytest

from tests.app.browser import chromium

pytestmark = pytest.mark.browser

CHARTS = "[data-testid='stVegaLiteChart']"
WATCH_REMOVALS = """(sel) => {
  window.__removedCharts = 0;
  new MutationObserver(records => {
    for (const r of records) for (const n of r.removedNodes)
      if (n.nodeType === 1 && (n.matches(sel) || n.querySelector(sel))) window.__removedCharts += 1;
  }).observe(document.body, {childList: true, subtree: true});
}"""


def test_live_charts_refresh_in_place_without_blank_frames(dashboard, tmp_path):
    console: list[str] = []
    with chromium(tmp_path, width=1400, height=1100) as context:
        page = context.new_page()
        page.on("console", lambda msg: console.append(msg.text))
        page.goto(dashboard, wait_until="domcontentloaded")
        page.get_by_text("Engines", exact=True).wait_for(timeout=90_000)
        page.wait_for_function(f'document.querySelectorAll("{CHARTS}").length >= 4', timeout=60_000)
        page.evaluate(WATCH_REMOVALS, CHARTS)
        for _ in range(6):  # six refreshes of the live panel
            before = page.get_by_text("Event time", exact=False).first.inner_text()
            page.wait_for_function(
                "(b) => [...document.querySelectorAll('p')].some("
                "e => e.innerText.startsWith('Event time') && e.innerText !== b)",
                arg=before,
                timeout=30_000,
            )
        removed = page.evaluate("window.__removedCharts")
        drawn = page.evaluate(
            f"[...document.querySelectorAll(\"{CHARTS}\")].filter(c => c.querySelector('canvas, svg')).length"
        )
        page.screenshot(path=str(tmp_path / "live-charts.png"), full_page=True)
    assert removed == 0, f"{removed} chart(s) were unmounted and drawn afresh (blank frames)"
    assert drawn >= 4
    assert not [m for m in console if "auto-margin" in m.lower()], console
