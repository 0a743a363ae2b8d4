"""What only a browser shows (issue 13): a deep link on a freshly started server gets the app's own
navigation (#12), and an open Live tab follows "Restart simulator" pressed in another tab within one
refresh (#1). The walkthrough's page-switch and refresh timings are measured and printed (never
asserted: they depend on the machine)."""

from __future__ import annotations

import json
import statistics
import time

import pytest

from tests.app.browser import chromium

pytestmark = pytest.mark.browser
PAGES = ("Live", "Option chain", "Signal history", "Performance", "System")
NAV_LINKS = '[data-testid="stSidebarNav"] a'


LEGACY = {"main", "chain", "history", "live", "performance", "system"}  # pages-folder names


def _nav(page) -> list[str]:
    """The sidebar navigation's page names (each link's last line: the first is its icon)."""
    page.locator(NAV_LINKS).first.wait_for(timeout=60_000)
    return [t.strip().splitlines()[-1].strip() for t in page.locator(NAV_LINKS).all_inner_texts()]


def _assert_own_navigation(page) -> None:
    names = _nav(page)
    assert set(PAGES) <= set(names), names
    assert not LEGACY & set(names), names
    width = page.locator('[data-testid="stMainBlockContainer"]').first.bounding_box()["width"]
    assert width > 900, f"narrow layout ({width:.0f} px): the entry point's set_page_config never ran"


def _title(page, text: str, timeout: float = 60_000) -> None:
    page.locator("h1", has_text=text).first.wait_for(timeout=timeout)


def test_deep_links_on_a_fresh_server_show_the_apps_own_navigation(dashboard, tmp_path):
    """#12: /chain before any session loaded / served Streamlit's legacy pages-folder navigation
    (main, chain, history, live) in the narrow layout."""

    with chromium(tmp_path) as context:
        page = context.new_page()
        page.goto(f"{dashboard}/chain", wait_until="domcontentloaded")  # the server's first page
        _title(page, "Option chain")
        _assert_own_navigation(page)
        other = context.new_page()
        other.goto(f"{dashboard}/history", wait_until="domcontentloaded")
        _title(other, "Signal history")
        _assert_own_navigation(other)


def _event_time(page) -> str:
    return page.get_by_text("Event time", exact=False).first.inner_text()


def _pill(page) -> str:
    return page.locator(".siq-pill").first.inner_text()


@pytest.mark.timeout(600)
def test_an_open_live_tab_follows_a_restart_pressed_in_another_tab(dashboard, tmp_path):
    """#1: Live stayed "OFFLINE – simulator stopped" with a frozen event time for 40 s and more."""

    timings: dict[str, object] = {}
    with chromium(tmp_path) as context:
        live = context.new_page()
        live.goto(dashboard, wait_until="domcontentloaded")
        live.get_by_text("Event time", exact=False).first.wait_for(timeout=90_000)
        timings["live_refresh_s"] = _refresh_intervals(live, 6)
        print(f"refresh {timings['live_refresh_s']}", flush=True)
        timings["page_switch_s"] = _page_switches(live)
        print(f"switches {timings['page_switch_s']}", flush=True)
        live.locator(NAV_LINKS, has_text="Live").first.click()
        live.get_by_text("Event time", exact=False).first.wait_for(timeout=60_000)

        system = context.new_page()
        system.goto(f"{dashboard}/system", wait_until="domcontentloaded")
        _title(system, "System")
        system.get_by_role("button", name="Restart simulator").wait_for(timeout=60_000)
        live.bring_to_front()
        before = _event_time(live)
        system.get_by_role("button", name="Restart simulator").click()
        started = time.monotonic()
        print(f"restart clicked; live showed {before!r}", flush=True)
        # The new run replays the session from its open: its event time is earlier than the
        # stopped run's, which a tab holding the stopped runtime shows frozen (and OFFLINE).
        live.wait_for_function(
            "(before) => document.querySelector('.siq-pill')?.innerText !== 'OFFLINE' && "
            "[...document.querySelectorAll('p, div')].some(e => e.innerText && "
            "e.innerText.startsWith('Event time') && e.innerText.slice(0, 40) < before.slice(0, 40))",
            arg=before,
            timeout=45_000,
        )
        timings["restart_followed_after_s"] = round(time.monotonic() - started, 2)
        assert _pill(live) != "OFFLINE"
        after = _event_time(live)
        live.wait_for_function(  # and it keeps refreshing
            "(after) => [...document.querySelectorAll('p, div')].some(e => e.innerText && "
            "e.innerText.startsWith('Event time') && e.innerText !== after)",
            arg=after,
            timeout=60_000,
        )
        timings["first_refresh_after_restart_s"] = round(time.monotonic() - started, 2)
    print("\nBROWSER TIMINGS " + json.dumps(timings))
    (tmp_path / "timings.json").write_text(json.dumps(timings, indent=2))


def _refresh_intervals(page, count: int) -> dict[str, float]:
    """Wall seconds between successive changes of the Live panel's event-time line."""
    stamps = []
    current = _event_time(page)
    for _ in range(count + 1):
        page.wait_for_function(
            "(before) => [...document.querySelectorAll('p, div')].some(e => e.innerText && "
            "e.innerText.startsWith('Event time') && e.innerText !== before)",
            arg=current,
            timeout=30_000,
            polling=20,
        )
        stamps.append(time.monotonic())
        current = _event_time(page)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return {"median": round(statistics.median(gaps), 2), "max": round(max(gaps), 2)}


def _page_switches(page) -> dict[str, float]:
    """Wall seconds from a navigation click to the target page's title, per page (second visit)."""
    out: dict[str, float] = {}
    for attempt in range(2):
        for name in (*PAGES[1:], PAGES[0]):
            started = time.monotonic()
            page.locator(NAV_LINKS, has_text=name).first.click()
            title = "Live" if name == "Live" else name
            _title(page, title)
            if attempt:
                out[name] = round(time.monotonic() - started, 2)
    return out
