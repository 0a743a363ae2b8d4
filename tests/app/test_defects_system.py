"""A database outage as a trader meets it (issue 13 #3): PostgreSQL behind a TCP proxy the test cuts
and restores. History, Performance, Intraday, Alerts, Live (in place of its stored-day chart) and
System's Database section show one "database unavailable since HH:MM — retrying; live data
continues" state instead of driver tracebacks, a replica says its live data resumes when the
database is back, the logger's last error carries its time, and everything clears on recovery."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import streamlit as st
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from app.runtime import get_runtime, shutdown_runtime
from core.storage.database import upgrade
from tests.app.conftest import main_script
from tests.app.test_pages import rerun_until
from tests.core.storage.helpers import make_signal

pytestmark = pytest.mark.postgres
UNAVAILABLE = re.compile(r"Database unavailable since \d\d:\d\d IST — retrying; live data continues")


class TcpProxy:
    """127.0.0.1:<port> -> target, until cut(): then every connection is dropped and new ones are
    refused, as when a database server goes away; restore() listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def restore(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                # shutdown() wakes the thread blocked in accept(); close() alone would leave the
                # kernel socket listening (and accepting) until that accept returns.
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()


@pytest.fixture
def proxied_pg(app_env, pg_url, monkeypatch) -> Iterator[TcpProxy]:
    """The app on a fresh, migrated PostgreSQL database reached through a proxy the test controls."""
    upgrade(pg_url)
    url = make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.restore()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", proxied)
    monkeypatch.setenv("STRIKEIQ_SPEED", "1")
    yield proxy
    proxy.restore()  # the runtime drains to the database, not to a journal, as it stops
    shutdown_runtime()
    proxy.cut()


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(main_script(), default_timeout=60)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.warning, *at.error, *at.info, *at.markdown, *at.caption)]
    parts += [str(m.value) for m in at.metric]
    return "\n".join(parts)


@pytest.mark.parametrize(
    "page",
    [
        "views/history.py",
        "views/performance.py",
        "views/system.py",
        "views/intraday.py",
        "views/alerts.py",
        "views/live.py",
    ],
)
def test_a_database_outage_shows_one_clear_state_and_clears_on_recovery(proxied_pg, page):
    runtime = get_runtime()
    at = open_page(page)
    live = page == "views/live.py"
    if live:  # Live reads the day once it has data
        rerun_until(at, lambda a: any(m.label == "Spot" for m in a.metric), timeout=60)
    assert not UNAVAILABLE.search(texts(at))

    proxied_pg.cut()
    st.cache_data.clear()  # a page would show its last answer until its cache expires
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert UNAVAILABLE.search(shown), shown
    assert "Traceback" not in shown and "[SQL:" not in shown
    if live:  # the stored day is missing from its chart; the live data goes on
        assert any(m.label == "Spot" for m in at.metric) and any(s.value == "Engines" for s in at.subheader)

    proxied_pg.restore()
    assert runtime.logger.flush(timeout=20)  # an explicit flush tries the database at once
    st.cache_data.clear()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert not UNAVAILABLE.search(shown), shown
    assert "Last database error" not in shown


def test_the_system_page_dates_the_logger_outage_and_its_last_error(proxied_pg):
    runtime = get_runtime()
    at = open_page("views/system.py")
    proxied_pg.cut()
    runtime.logger.log(make_signal())
    runtime.logger.flush(timeout=10)  # the writer meets the outage now, not at its next batch
    stats = runtime.logger.stats()
    assert stats["db_up"] is False and stats["down_since"] and stats["last_error_at"]
    st.cache_data.clear()
    at.run()
    database = next(m.value for m in at.metric if m.label == "Database")
    assert re.fullmatch(r"DOWN since \d\d:\d\d", database)
    assert any(re.match(r"Last database error \(\d\d:\d\d:\d\d IST\): ", w.value) for w in at.warning)

    proxied_pg.restore()
    assert runtime.logger.flush(timeout=20)
    stats = runtime.logger.stats()
    assert stats["db_up"] and stats["last_error"] == "" and stats["down_since"] is None
    at.run()
    assert next(m.value for m in at.metric if m.label == "Database") == "up"


REPLICA_DOWN = re.compile(
    r"Database unavailable since \d\d:\d\d IST — retrying; this replica's live data resumes when it is back"
)


def replica_of_a_worker(pg_url: str, monkeypatch) -> None:
    """Five seconds of a worker's live state in the database (reached directly), and this app a
    replica of it (STRIKEIQ_LIVE_SOURCE=db, through the proxy)."""
    subprocess.run(
        [sys.executable, "-m", "core", "worker", "--speed", "20", "--duration", "5", "--live-state", "--db", pg_url],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    monkeypatch.setenv("STRIKEIQ_LIVE_SOURCE", "db")


def test_a_replica_meets_an_outage_with_the_state_not_a_traceback(proxied_pg, pg_url, monkeypatch):
    """STRIKEIQ_LIVE_SOURCE=db: the live data is in the database, so an outage stops it; Live,
    Option chain and System say so (and that it resumes), and follow the worker's rows again on
    recovery."""
    replica_of_a_worker(pg_url, monkeypatch)
    at = open_page("views/live.py")
    assert any(m.label == "Spot" for m in at.metric)
    proxied_pg.cut()
    time.sleep(0.6)  # past the replica's half-second cache of the published row
    for page in ("views/live.py", "views/chain.py", "views/system.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        shown = texts(at)
        assert REPLICA_DOWN.search(shown) and "live data continues" not in shown, (page, shown)
        assert not any(m.label == "Spot" for m in at.metric)  # no stale numbers passed off as live

    proxied_pg.restore()
    time.sleep(0.6)
    at.switch_page("views/live.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.label == "Spot" for m in at.metric) and "Database unavailable" not in texts(at)


def test_marking_oi_on_a_replica_as_its_database_goes_away_keeps_the_chain_it_showed(
    proxied_pg, pg_url, monkeypatch
):
    """The Mark OI button's callback reads the latest chain before the page runs: on a replica a
    click landing just after the database went away marks the chain the page showed, and the
    page shows the outage."""
    replica_of_a_worker(pg_url, monkeypatch)
    at = open_page("views/chain.py")
    shown = get_runtime().view("NIFTY").metrics  # the replica's published chain, read before the cut
    proxied_pg.cut()
    time.sleep(0.6)  # past the replica's half-second cache of the published row
    at.button(key="chain_mark_oi").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert REPLICA_DOWN.search(texts(at)), texts(at)
    ((key, mark),) = at.session_state["chain_oi_marks"].items()
    m = shown[key[1]]
    assert key[0] == "NIFTY" and mark.ts == m.ts and list(mark.call_oi) == list(m.call_oi)
    assert at.session_state["chain_doi_since"] == "marked time"
