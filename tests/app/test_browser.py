"""The real dashboard in headless Chromium: tiles and charts render and the live panel refreshes."""

from __future__ import annotations

import pytest

from tests.app.browser import chromium

pytestmark = pytest.mark.browser


def test_live_page_renders_and_refreshes(dashboard, tmp_path):
    with chromium(tmp_path) as context:
        page = context.new_page()
        page.goto(dashboard, wait_until="domcontentloaded")
        page.get_by_text("Engines", exact=True).wait_for(timeout=60_000)
        page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=60_000)
        caption = page.get_by_text("Event time", exact=False).first
        first = caption.inner_text()
        page.wait_for_function(
            "(before) => [...document.querySelectorAll('p, div')].some("
            "e => e.innerText && e.innerText.startsWith('Event time') && e.innerText !== before)",
            arg=first,
            timeout=30_000,
        )
        second = page.get_by_text("Event time", exact=False).first.inner_text()
        assert second != first, "live panel did not refresh"
        assert page.get_by_text("Liquidity", exact=False).count() > 0  # an engine tile
        page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
    assert (tmp_path / "live.png").stat().st_size > 10_000
